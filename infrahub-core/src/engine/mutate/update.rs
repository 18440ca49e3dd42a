//! Updates of a node (attributes given change, a given relationship's peers replace the
//! current ones) and upserts.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Engine {
    /// Updates the node `input.id` or `input.hfid` designates among nodes of `kind`: attributes
    /// given change, others are kept; a given relationship's peer set replaces the current one.
    pub async fn update(&self, branch: &str, kind: &str, input: NodeInput) -> Result<Mutation> {
        let view = BranchView::now(branch);
        let reference = NodeRef {
            id: input.id.clone(),
            hfid: input.hfid.clone(),
        };
        if reference.id.is_none() && reference.hfid.is_none() {
            return Err(validation(format!(
                "an update of {kind} needs an `id` or an `hfid`"
            )));
        }
        let id = self.resolve(&view, kind, &reference).await?;
        self.update_node(branch, id, input).await
    }

    pub(super) async fn update_node(
        &self,
        branch: &str,
        id: NodeId,
        input: NodeInput,
    ) -> Result<Mutation> {
        let schema = self.schema(branch)?;
        let view = BranchView::now(branch);
        let existence = self
            .store()
            .get_nodes(&view, &[id], &Selection::nothing())
            .await?;
        let kind = existence
            .first()
            .map(|n| n.kind.clone())
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("node {id} not found")))?;
        let model = schema
            .get(&kind)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("kind `{kind}` not found")))?;
        Engine::check_attribute_names(model, &input)?;
        let mut input = input;
        let mut from_file = Engine::take_file(model, &mut input)?;
        from_file.extend(super::query_metadata::derive(&schema, model, &mut input)?);
        self.take_from_pools(branch, model, &mut input, id).await?;
        // The stored node is kept: the node after the write is this with the write laid over.
        let everything = Fields::everything(model);
        let mut stored = self
            .read_data(&view, model, id, &everything)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("node {id} not found")))?;
        let current = self
            .to_nodes(&view, &schema, vec![stored.clone()], &everything)
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("node {id} not found")))?;
        let mut ops = Vec::new();
        let mut values: Values = current
            .attributes
            .iter()
            .map(|(k, a)| (k.clone(), a.value.clone()))
            .collect();
        let mut changes: BTreeMap<String, AttributeChange> = BTreeMap::new();
        for (name, given) in &input.attributes {
            let Some(attribute) = model.attribute(name) else {
                continue;
            };
            let Some(before) = current.attributes.get(name) else {
                continue;
            };
            if given.value.is_some()
                && attribute.read_only
                && given.from_pool.is_none()
                && !from_file.contains(name)
                && !Engine::internal_kind(model)
            {
                return Err(validation(format!(
                    "`{name}` of {} is read-only",
                    model.kind()
                )));
            }
            let (value, is_default, is_from_profile) = if given.is_default == Some(true) {
                (
                    attribute.default_value.clone().unwrap_or(Value::Null),
                    true,
                    false,
                )
            } else {
                match &given.value {
                    Some(raw) => (
                        self.stored_value(model, attribute, raw).await?,
                        false,
                        false,
                    ),
                    None => (
                        before.value.clone(),
                        before.is_default,
                        before.is_from_profile,
                    ),
                }
            };
            // A value that stops following its profile stops naming it as its source.
            let inherited_source = if before.is_from_profile && !is_from_profile {
                None
            } else {
                before.source
            };
            if value.is_null() && !attribute.optional && !attribute.read_only {
                return Err(validation(format!(
                    "{name} is mandatory for {} at {name}",
                    model.kind()
                )));
            }
            let stored = AttributeValue {
                value: value.clone(),
                is_default,
                is_protected: given.is_protected.unwrap_or(before.is_protected),
                is_visible: given.is_visible.unwrap_or(before.is_visible),
                source: optional_id("source", &given.source)?.or(inherited_source),
                owner: optional_id("owner", &given.owner)?.or(before.owner),
                is_from_profile,
            };
            let unchanged = stored.value == before.value
                && stored.is_default == before.is_default
                && stored.is_from_profile == before.is_from_profile
                && stored.is_protected == before.is_protected
                && stored.is_visible == before.is_visible
                && stored.source == before.source
                && stored.owner == before.owner
                && before.updated_at.is_some();
            if unchanged {
                continue;
            }
            if stored.value != before.value {
                changes.insert(
                    name.clone(),
                    AttributeChange {
                        kind: attribute.kind.to_string(),
                        value: value.clone(),
                        value_previous: before.value.clone(),
                    },
                );
            }
            values.insert(name.clone(), value);
            ops.push(Op::SetAttribute {
                node: id,
                name: name.clone(),
                value: stored,
                scope: links::scope(attribute.branch),
                indexed: !attribute.kind.is_large(),
            });
        }
        // A permission's identifier follows its fields.
        if has_derived_identifier(model)
            && let Some((op, identifier)) = identifier_op(model, id, &values)
            && values.get("identifier") != Some(&identifier)
        {
            ops.push(op);
            values.insert("identifier".into(), identifier);
        }
        let mut peers: PeerSets = current
            .relationships
            .iter()
            .map(|(name, list)| (name.clone(), list.iter().map(|p| p.id).collect()))
            .collect();
        let mut relationship_changes: BTreeMap<String, RelationshipChange> = BTreeMap::new();
        let mut link_conditions: Vec<Condition> = Vec::new();
        for (name, given) in &input.relationships {
            let Some(relationship) = model.relationship(name) else {
                continue;
            };
            if relationship.read_only && !Engine::internal_kind(model) {
                return Err(validation(format!(
                    "`{name}` of {} is read-only",
                    model.kind()
                )));
            }
            let resolved = self
                .resolve_peers(&view, &schema, model, relationship, given)
                .await?;
            Engine::check_counts(model, relationship, resolved.len())?;
            let before: Vec<&super::super::node::Peer> = current.peers(name).iter().collect();
            let after: BTreeSet<NodeId> = resolved.iter().map(|p| p.id).collect();
            let mut change = RelationshipChange::default();
            // The current partners of the peers to link, read in one call.
            let linking: Vec<(NodeId, Option<&ModelSchema>)> = resolved
                .iter()
                .filter(|peer| !before.iter().any(|p| p.id == peer.id))
                .map(|peer| (peer.id, schema.get(&peer.kind)))
                .collect();
            let partners = self.single_partners(&view, relationship, &linking).await?;
            for old in &before {
                if !after.contains(&old.id) {
                    ops.push(links::remove(relationship, id, old.id));
                    change.removed.push(old.id);
                }
            }
            for peer in &resolved {
                let existing = before.iter().find(|p| p.id == peer.id).copied();
                let properties = Engine::link_properties(relationship, &peer.input, existing)?;
                let same = existing.is_some_and(|e| {
                    e.is_protected == properties.is_protected
                        && e.is_visible == properties.is_visible
                        && e.source == properties.source
                        && e.owner == properties.owner
                });
                if same {
                    continue;
                }
                if existing.is_none() {
                    change.added.push(peer.id);
                    Engine::link_peer(
                        relationship,
                        id,
                        (peer.id, schema.get(&peer.kind)),
                        properties,
                        &partners,
                        (&mut ops, &mut link_conditions),
                    );
                } else {
                    ops.push(links::set(relationship, id, peer.id, properties));
                }
            }
            if !change.added.is_empty() || !change.removed.is_empty() {
                link_conditions.extend(Engine::count_condition(model, relationship, id));
                relationship_changes.insert(name.clone(), change);
            }
            peers.insert(name.clone(), after.into_iter().collect());
        }
        // Stored values already follow the node's profiles; they change only with its profile
        // set or with an attribute handed back to its default.
        let given = given_relationships(&input);
        let profiles_in_play = input.relationships.contains_key(PROFILES)
            || input
                .attributes
                .values()
                .any(|a| a.is_default == Some(true))
            || input
                .relationships
                .keys()
                .any(|name| !given.contains(name) && model.relationship(name).is_some());
        if profiles_in_play {
            let profiles = peers.get(PROFILES).cloned().unwrap_or_default();
            self.apply_profiles(
                &view,
                PendingWrite {
                    id,
                    model,
                    current: Some(&current),
                    profiles: &profiles,
                    ops: &mut ops,
                    values: &mut values,
                    changes: &mut changes,
                    given: &given,
                },
            )
            .await?;
        }
        if ops.is_empty() {
            return Ok(Mutation {
                node: current,
                created: false,
                events: Vec::new(),
                at: None,
            });
        }
        // Uniqueness needs every peer of constrained relationships, read or not.
        for name in unique_relationship_names(&schema, model) {
            if let Some(relationship) = model.relationship(&name)
                && !peers.contains_key(&relationship.name)
            {
                let selection = Selection {
                    attributes: Some(Vec::new()),
                    links: vec![links::selection(relationship)],
                };
                let read = self.store().get_nodes(&view, &[id], &selection).await?;
                peers.insert(
                    relationship.name.clone(),
                    read.iter()
                        .flat_map(|n| n.links.iter().map(|l| l.peer))
                        .collect(),
                );
            }
        }
        let changed: BTreeSet<String> = input.relationships.keys().cloned().collect();
        self.check_common_parents(&view, model, &peers, &changed)
            .await?;
        super::templates::check_template_pools(model, &|name| {
            if let Some(given) = input.attributes.get(name) {
                if given.is_default == Some(true) {
                    return false;
                }
                if let Some(value) = &given.value {
                    return !value.is_null();
                }
            }
            if let Some(attribute) = current.attributes.get(name) {
                return !attribute.is_default && !attribute.value.is_null();
            }
            peers.get(name).is_some_and(|p| !p.is_empty())
        })?;
        let _ipam = match IpamRole::of(model) {
            Some(role) => {
                self.place_updated(
                    &view, &schema, model, role, &current, &values, &peers, &mut ops,
                )
                .await?
            }
            None => None,
        };
        written::overlay(&mut stored, branch, &ops);
        // The nodes that used the profile and those that use it now take its new values in the
        // same changeset.
        let mut refresh = if is_profile(model) {
            let users = current
                .peers(RELATED_NODES)
                .iter()
                .map(|p| p.id)
                .chain(peers.get(RELATED_NODES).into_iter().flatten().copied());
            self.plan_refresh(branch, &schema, &users.collect(), &ops, &BTreeSet::new())
                .await?
        } else {
            Refresh::default()
        };
        let mut changeset = Changeset::new(branch);
        changeset.ops = ops;
        changeset.conditions = Engine::unique_conditions(&schema, model, &values, &peers, Some(id));
        changeset.conditions.append(&mut link_conditions);
        refresh.add_to(&mut changeset);
        let kind_written = model.kind();
        let at = self
            .commit_checked(changeset, [kind_written.as_str()])
            .await?;
        written::stamp(&mut stored, at);
        let node = self
            .to_nodes(&view, &schema, vec![stored], &everything)
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::Internal, format!("node {id} has no kind")))?;
        let mut events = vec![Event::NodeUpdated(NodeEvent {
            branch: branch.to_string(),
            kind: model.kind(),
            node_id: id,
            at,
            display_label: node.display_label.clone(),
            attributes: changes,
            relationships: relationship_changes,
        })];
        events.extend(self.refresh_events(branch, &schema, refresh, at).await?);
        Ok(Mutation {
            node,
            created: false,
            events,
            at: Some(at),
        })
    }

    /// Creates the node, or updates it if it exists: found by `id`, else by the human-friendly
    /// id its data gives, else by the kind's `default_filter`.
    pub async fn upsert(&self, branch: &str, kind: &str, input: NodeInput) -> Result<Mutation> {
        let schema = self.schema(branch)?;
        let model = schema.get(kind).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("kind `{kind}` not found on branch `{branch}`"),
            )
        })?;
        let view = BranchView::now(branch);
        if let Some(text) = &input.id {
            let id = parse_id("id", text)?;
            let exists = !self
                .store()
                .get_nodes(&view, &[id], &Selection::nothing())
                .await?
                .is_empty();
            if exists {
                return self.update_node(branch, id, input).await;
            }
        } else if let Some(hfid) = &input.hfid
            && let Some((id, _)) = self
                .resolve_in(&view, &schema, model, None, Some(hfid))
                .await?
        {
            return self.update_node(branch, id, input).await;
        }
        // Not found by the id or human-friendly id given: as upstream, a create that would
        // collide with the human-friendly id (or default filter) of an existing node updates
        // that node instead (an export loaded into another instance, whose built-in nodes
        // have other ids).
        if let Some(id) = self.find_by_data(&view, &schema, model, &input).await? {
            return self.update_node(branch, id, input).await;
        }
        match self.create(branch, kind, input.clone()).await {
            // Another upsert of the same data created the node since the lookup: update it,
            // as upstream does when its create loses the race.
            Err(error) if error.kind() == ErrorKind::Uniqueness => {
                match self.find_by_data(&view, &schema, model, &input).await? {
                    Some(id) => self.update_node(branch, id, input).await,
                    None => Err(error),
                }
            }
            outcome => outcome,
        }
    }

    /// The existing node whose human-friendly id (or default filter) the data of `input` gives.
    pub(super) async fn find_by_data(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        input: &NodeInput,
    ) -> Result<Option<NodeId>> {
        let paths: Vec<String> = match (&model.human_friendly_id, &model.default_filter) {
            (Some(hfid), _) => hfid.clone(),
            (None, Some(filter)) => vec![filter.clone()],
            (None, None) => return Ok(None),
        };
        let mut filters = Vec::new();
        for path in &paths {
            let parts: Vec<&str> = path.split("__").collect();
            if let Some(attribute) = model.attribute(parts[0]) {
                let Some(value) = input
                    .attributes
                    .get(parts[0])
                    .and_then(|a| a.value.clone())
                    .filter(|v| !v.is_null())
                else {
                    return Ok(None);
                };
                let value = crate::value::canonicalize(attribute, &value).unwrap_or(value);
                filters.push(Filter::Attribute {
                    name: attribute.name.clone(),
                    property: infrahub_graph::Property::Value,
                    matches: infrahub_graph::Match::Equals(value),
                });
            } else if let Some(relationship) = model.relationship(parts[0]) {
                let Some(RelationshipInput::One(Some(peer))) = input.relationships.get(parts[0])
                else {
                    return Ok(None);
                };
                let (peer, _) = self
                    .resolve_peer(view, schema, model, relationship, peer)
                    .await?;
                filters.push(Filter::Linked {
                    identifier: relationship.identifier().to_string(),
                    side: links::side(relationship),
                    peers: vec![peer],
                });
            } else {
                return Ok(None);
            }
        }
        let query = NodeQuery {
            labels: vec![model.kind()],
            filters,
            limit: Some(2),
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        let result = self.store().query(view, &query).await?;
        Ok(if result.nodes.len() == 1 {
            Some(result.nodes[0].id)
        } else {
            None
        })
    }
}
