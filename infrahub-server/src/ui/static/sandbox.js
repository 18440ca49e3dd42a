// GraphQL sandbox: runs the document of the page against the API's `POST /graphql/{branch}`
// with the session cookie (the API decides what the visitor may do) and shows the answer.
(function () {
  "use strict";

  // The address of a branch's GraphQL endpoint: each segment of the name percent-encoded,
  // and the page's time (`?at=`) when it shows the past.
  function endpoint(base, branch, at) {
    var url = base + branch.split("/").map(encodeURIComponent).join("/");
    return at ? url + "?at=" + encodeURIComponent(at) : url;
  }

  // `text` pretty-printed when it is JSON, as it is otherwise.
  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  // The root fields' introspection (one level of type wrappers is enough to find the named type).
  var FIELDS_QUERY = "query SandboxRootFields { __schema { " +
    "queryType { fields { name type { kind name ofType { kind name ofType { kind name } } } } } " +
    "mutationType { fields { name } } } }";

  function namedType(type) {
    while (type && !type.name && type.ofType) { type = type.ofType; }
    return type || {};
  }

  // The text inserted for a root field: a selection a user can run as it is.
  function snippet(field) {
    var type = namedType(field.type);
    if (field.mutation) { return field.name + "(data: {}) {\n    ok\n  }"; }
    if (type.kind === "SCALAR" || type.kind === "ENUM") { return field.name; }
    if (/^Paginated/.test(type.name || "")) {
      return field.name + " {\n    count\n    edges {\n      node {\n        id\n        display_label\n      }\n    }\n  }";
    }
    return field.name + " {\n    __typename\n  }";
  }

  function start(form) {
    var base = form.getAttribute("data-endpoint") || "/graphql/";
    var at = form.getAttribute("data-at") || "";
    var branch = document.getElementById("sandbox-branch");
    var query = document.getElementById("sandbox-query");
    var variables = document.getElementById("sandbox-variables");
    var variablesError = document.getElementById("sandbox-variables-error");
    var status = document.getElementById("sandbox-status");
    var result = document.getElementById("sandbox-result");
    var run = document.getElementById("sandbox-run");
    var fieldInput = document.getElementById("sandbox-field");
    var fieldList = document.getElementById("sandbox-fields");
    var insert = document.getElementById("sandbox-insert");
    var fields = {};
    var running = false;

    function post(body) {
      return fetch(endpoint(base, branch.value, at), {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "accept": "application/json" },
        body: JSON.stringify(body)
      });
    }

    function showVariablesError(message) {
      variablesError.textContent = message;
      variablesError.hidden = !message;
      variables.setAttribute("aria-invalid", message ? "true" : "false");
      variables.parentNode.classList.toggle("has-error", !!message);
    }

    function execute() {
      if (running) { return; }
      var parsed = {};
      var text = variables.value.trim();
      if (text !== "") {
        try {
          parsed = JSON.parse(text);
        } catch (e) {
          showVariablesError("The variables are not valid JSON: " + e.message);
          variables.focus();
          return;
        }
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
          showVariablesError("The variables must be a JSON object, like {\"name\": \"value\"}.");
          variables.focus();
          return;
        }
      }
      showVariablesError("");
      running = true;
      run.disabled = true;
      status.textContent = "Running on " + branch.value + "…";
      var started = Date.now();
      post({ query: query.value, variables: parsed }).then(function (response) {
        return response.text().then(function (body) {
          var took = Date.now() - started;
          status.textContent = "HTTP " + response.status + " from branch " + branch.value + " in " + took + " ms";
          result.textContent = pretty(body);
        });
      }).catch(function (error) {
        status.textContent = "The request failed: " + error.message;
        result.textContent = "";
      }).then(function () {
        running = false;
        run.disabled = false;
      });
    }

    // Root fields of the branch's schema, offered in the field box.
    function loadFields() {
      fieldInput.disabled = true;
      insert.disabled = true;
      fieldInput.placeholder = "Loading fields…";
      post({ query: FIELDS_QUERY, variables: {} }).then(function (response) {
        return response.json();
      }).then(function (body) {
        var schema = body && body.data && body.data.__schema;
        if (!schema) { throw new Error("no schema"); }
        fields = {};
        while (fieldList.firstChild) { fieldList.removeChild(fieldList.firstChild); }
        var add = function (field, mutation) {
          field.mutation = mutation;
          fields[field.name] = field;
          var option = document.createElement("option");
          option.value = field.name;
          option.label = mutation ? "mutation" : "query";
          fieldList.appendChild(option);
        };
        ((schema.queryType || {}).fields || []).forEach(function (f) { add(f, false); });
        ((schema.mutationType || {}).fields || []).forEach(function (f) { add(f, true); });
        fieldInput.disabled = false;
        insert.disabled = false;
        fieldInput.placeholder = "Type to find a field";
      }).catch(function () {
        fieldInput.placeholder = "Fields unavailable";
      });
    }

    function insertField() {
      var field = fields[fieldInput.value.trim()];
      if (!field) {
        status.textContent = "No root field " + fieldInput.value.trim() + " on branch " + branch.value + ".";
        return;
      }
      var text = "  " + snippet(field) + "\n";
      var cursor = query.selectionStart;
      var value = query.value;
      if (typeof cursor !== "number" || (cursor === value.length && value.trim() === "")) {
        query.value = (field.mutation ? "mutation {\n" : "query {\n") + text + "}\n";
      } else {
        query.value = value.slice(0, cursor) + text + value.slice(query.selectionEnd);
        query.selectionStart = query.selectionEnd = cursor + text.length;
      }
      fieldInput.value = "";
      query.focus();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      execute();
    });
    form.addEventListener("keydown", function (event) {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        execute();
      }
    });
    fieldInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        insertField();
      }
    });
    insert.addEventListener("click", insertField);
    // The sandbox's branch is its own: changing it reloads the field list, not the page.
    branch.addEventListener("change", loadFields);
    run.disabled = false;
    loadFields();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-sandbox]");
    if (form) { start(form); }
  });
}());
