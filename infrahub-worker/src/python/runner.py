# The Python side of infrahub-rs's Python runner: runs classes of Git repositories
# (transforms, checks, generators) with the official infrahub-sdk, one request at a time, as
# JSON lines: requests on stdin, answers on the original stdout (user code's prints go to
# stderr).
import asyncio
import importlib
import json
import logging
import os
import sys
import traceback

PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def answer(message):
    PROTOCOL.write(json.dumps(message, default=str) + "\n")
    PROTOCOL.flush()


try:
    import infrahub_sdk
    from infrahub_sdk import Config, InfrahubClient
    from infrahub_sdk.node import InfrahubNode
except Exception as error:  # noqa: BLE001
    answer({"ready": False, "error": f"the Python package infrahub-sdk cannot be imported: {error}"})
    sys.exit(0)

answer({"ready": True, "sdk": getattr(infrahub_sdk, "__version__", "unknown"), "python": sys.version.split()[0]})

LOOP = asyncio.new_event_loop()
CLASSES = {}
CLIENTS = {}
CURRENT_ROOT = [None]


def switch_root(root):
    """Only one commit's modules at a time: modules imported from another root are forgotten."""
    if CURRENT_ROOT[0] == root:
        return
    old = CURRENT_ROOT[0]
    if old is not None:
        if old in sys.path:
            sys.path.remove(old)
        prefix = os.path.join(old, "")
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None) or ""
            if path.startswith(prefix):
                del sys.modules[name]
        for key in [k for k in CLASSES if k[0] == old]:
            del CLASSES[key]
    sys.path.insert(0, root)
    CURRENT_ROOT[0] = root


def load(root, file_path, class_name):
    key = (root, file_path, class_name)
    if key in CLASSES:
        return CLASSES[key]
    switch_root(root)
    path = os.path.realpath(os.path.join(root, file_path))
    if not path.startswith(os.path.join(os.path.realpath(root), "")):
        raise ValueError(f"{file_path} is not inside the repository")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{file_path} is not in the repository")
    # Imported as the SDK's `infrahubctl transform` does: the repository root on sys.path and
    # the module named after its path, so that packages and relative imports work.
    module_name = os.path.splitext(os.path.normpath(file_path))[0].replace(os.sep, ".")
    module = importlib.import_module(module_name)
    if not hasattr(module, class_name):
        raise AttributeError(f"{file_path} has no class {class_name}")
    cls = getattr(module, class_name)
    CLASSES[key] = cls
    return cls


def client_for(address, token):
    key = (address, token)
    if key not in CLIENTS:
        config = Config(api_token=token) if token else Config()
        CLIENTS[key] = InfrahubClient(address=address, config=config)
    return CLIENTS[key]


def describe(request):
    cls = load(request["root"], request["file_path"], request["class_name"])
    query = getattr(cls, "query", None)
    timeout = getattr(cls, "timeout", None)
    return {
        "query": query if isinstance(query, str) else None,
        "timeout": timeout if isinstance(timeout, int) and not isinstance(timeout, bool) else None,
        "name": getattr(cls, "name", None) if isinstance(getattr(cls, "name", None), str) else None,
    }


def transform(request):
    cls = load(request["root"], request["file_path"], request["class_name"])
    client = client_for(request.get("address") or "http://127.0.0.1:8000", request.get("token"))
    instance = cls(
        client=client,
        infrahub_node=InfrahubNode,
        convert_query_response=bool(request.get("convert_query_response")),
        branch=request.get("branch") or "main",
        root_directory=request["root"],
        server_url=request.get("address") or "",
    )
    return LOOP.run_until_complete(instance.run(data=request.get("data") or {}))


class Collect(logging.Handler):
    """Keeps the records a generator logs, for the task's log."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self.records = []

    def emit(self, record):
        if len(self.records) < 1000:
            self.records.append({"level": record.levelname, "message": record.getMessage()[:2000]})


def generate(request):
    cls = load(request["root"], request["file_path"], request["class_name"])
    client = client_for(request.get("address") or "http://127.0.0.1:8000", request.get("token"))
    logger = logging.getLogger(f"infrahub.generator.{request.get('id')}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    collect = Collect()
    logger.addHandler(collect)
    try:
        instance = cls(
            query=request["query"],
            client=client,
            infrahub_node=InfrahubNode,
            branch=request.get("branch") or "main",
            root_directory=request["root"],
            generator_instance=request.get("generator_instance") or "",
            params=request.get("params") or {},
            convert_query_response=bool(request.get("convert_query_response")),
            execute_in_proposed_change=bool(request.get("execute_in_proposed_change", True)),
            execute_after_merge=bool(request.get("execute_after_merge", True)),
            logger=logger,
        )
        LOOP.run_until_complete(instance.run(identifier=request["identifier"]))
    finally:
        logger.removeHandler(collect)
    return {"logs": collect.records}


def check(request):
    cls = load(request["root"], request["file_path"], request["class_name"])
    client = client_for(request.get("address") or "http://127.0.0.1:8000", request.get("token"))
    instance = cls(
        branch=request.get("branch") or "main",
        root_directory=request["root"],
        params=request.get("params") or {},
        client=client,
    )
    passed = LOOP.run_until_complete(instance.run())
    return {"passed": bool(passed), "logs": instance.logs[:1000], "log_entries": instance.log_entries[:100000]}


def objects(request):
    """Loads a repository's object or menu files with the SDK, as `infrahubctl object load`
    does, tracked in the repository's CoreRepositoryGroup so that objects the files no longer
    hold are deleted; or, with `check_only`, only parses them."""
    from pathlib import Path

    from infrahub_sdk.spec.menu import MenuFile
    from infrahub_sdk.spec.object import ObjectFile

    root = os.path.realpath(request["root"])
    inside = os.path.join(root, "")
    content = request["content"]
    file_type = MenuFile if content == "menu" else ObjectFile
    paths = []
    for relative in request["paths"]:
        path = os.path.realpath(os.path.join(root, relative))
        if not path.startswith(inside):
            raise ValueError(f"{relative} is not inside the repository")
        paths.append(Path(path))
    files = file_type.load_from_disk(paths=paths)
    names = []
    for file in files:
        name = os.path.relpath(str(file.location), root)
        if not file.valid:
            raise ValueError(f"{name}: {file.error_message}")
        names.append(name)
    if request.get("check_only"):
        return {"files": names}
    branch = request.get("branch") or "main"
    repository = request["repository_id"]
    client = client_for(request.get("address") or "http://127.0.0.1:8000", request.get("token")).clone(branch=branch)

    async def load():
        for file in files:
            await file.validate_format(client=client, branch=branch)
        async with client.start_tracking(
            identifier=f"group-repo-{content}-{repository}",
            delete_unused_nodes=True,
            group_type="CoreRepositoryGroup",
            group_params={"content": content, "repository": repository},
            branch=branch,
        ):
            for file in files:
                await file.process(client=client, branch=branch)

    LOOP.run_until_complete(load())
    return {"files": names}


OPERATIONS = {
    "describe": describe,
    "transform": transform,
    "generate": generate,
    "check": check,
    "objects": objects,
}

for line in sys.stdin:
    try:
        request = json.loads(line)
    except ValueError as error:
        answer({"ok": False, "error": f"malformed request: {error}"})
        continue
    ident = request.get("id")
    operation = OPERATIONS.get(request.get("op"))
    if operation is None:
        answer({"id": ident, "ok": False, "error": f"unknown operation {request.get('op')!r}"})
        continue
    try:
        result = operation(request)
        json.dumps(result)
        answer({"id": ident, "ok": True, "result": result})
    except TypeError as error:
        if "JSON serializable" in str(error):
            answer({"id": ident, "ok": False, "error": f"the result is not JSON: {error}"})
        else:
            answer({"id": ident, "ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=8)})
    except BaseException as error:  # noqa: BLE001
        answer({"id": ident, "ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=8)})
