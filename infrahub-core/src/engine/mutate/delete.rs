//! Deletes, with the nodes cascading relationships own, and changes of the peers of one
//! relationship.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Engine {
    /// Deletes the node `reference` designates among nodes of `kind`, and the nodes its
    /// cascading relationships own; refuses if another node requires it.
    pub async fn delete(
        &self,
        branch: &str,
        kind: &str,
        reference: &NodeRef,
    ) -> Result<Vec<Event>> {
        self.delete_checked(branch, kind, reference, &|_| Ok(()))
            .await
    }

    /// Like [`Engine::delete`], once `check` accepted the kinds of every node the delete would
    /// remove (the node and those its cascading relationships own): an authorization point
    /// for cascaded deletes. Nothing is written when `check` refuses; its error is returned.
    pub async fn delete_checked(
        &self,
        branch: &str,
        kind: &str,
        reference: &NodeRef,
        check: &(dyn Fn(&BTreeSet<String>) -> Result<()> + Send + Sync),
    ) -> Result<Vec<Event>> {
        let view = BranchView::now(branch);
        let id = self.resolve(&view, kind, reference).await?;
        self.delete_nodes_checked(branch, &[id], check).await
    }

    async fn delete_nodes_checked(
        &self,
        branch: &str,
        roots: &[NodeId],
        check: &(dyn Fn(&BTreeSet<String>) -> Result<()> + Send + Sync),
    ) -> Result<Vec<Event>> {
        let schema = self.schema(branch)?;
        let view = BranchView::now(branch);
        // The nodes to delete, read level by level: one read of the kinds and one per kind
        // per level of cascading relationships, whatever the number of nodes.
        let mut doomed: BTreeMap<NodeId, Node> = BTreeMap::new();
        let mut level: Vec<NodeId> = roots.to_vec();
        while !level.is_empty() {
            level.retain(|id| !doomed.contains_key(id));
            level.sort_unstable();
            level.dedup();
            if level.is_empty() {
                break;
            }
            let kinds: Vec<(NodeId, String)> = self
                .store()
                .get_nodes(&view, &level, &Selection::nothing())
                .await?
                .into_iter()
                .filter(|n| schema.get(&n.kind).is_some())
                .map(|n| (n.id, n.kind))
                .collect();
            let mut every: BTreeSet<String> = BTreeSet::new();
            for (_, kind) in &kinds {
                if let Some(model) = schema.get(kind) {
                    every.extend(model.relationships.iter().map(|r| r.name.clone()));
                }
            }
            let fields = Fields {
                attributes: None,
                relationships: every.into_iter().collect(),
            };
            let nodes = self.load_by_kind(&view, &schema, &kinds, &fields).await?;
            let mut next = Vec::new();
            for node in nodes {
                if let Some(model) = schema.get(&node.kind) {
                    for relationship in &model.relationships {
                        if relationship.on_delete == Some(OnDelete::Cascade) {
                            next.extend(node.peers(&relationship.name).iter().map(|p| p.id));
                        }
                    }
                }
                doomed.insert(node.id, node);
            }
            level = next;
        }
        check(&doomed.values().map(|node| node.kind.clone()).collect())?;
        let required = self.check_required(&view, &schema, &doomed).await?;
        let mut changeset = Changeset::new(branch);
        changeset.conditions = required;
        // What hung from a deleted IP prefix goes to the prefix above it, before the deletes.
        let _ipam = if doomed
            .values()
            .any(|n| schema.get(&n.kind).and_then(IpamRole::of).is_some())
        {
            let guard = self.ipam_lock(branch).await?;
            self.ipam_deletes(&view, &schema, &doomed, &mut changeset.ops)
                .await?;
            Some(guard)
        } else {
            None
        };
        for node in doomed.values() {
            let scope = schema
                .get(&node.kind)
                .map_or(infrahub_graph::Scope::Branch, |m| {
                    links::scope(Some(m.branch))
                });
            changeset.push(Op::DeleteNode { id: node.id, scope });
        }
        // Nodes that used a deleted profile lose the values it gave them, in the same changeset.
        let users: BTreeSet<NodeId> = doomed
            .values()
            .filter(|node| schema.get(&node.kind).is_some_and(is_profile))
            .flat_map(|node| node.peers(RELATED_NODES).iter().map(|p| p.id))
            .collect();
        let gone: BTreeSet<NodeId> = doomed.keys().copied().collect();
        let mut refresh = self
            .plan_refresh(branch, &schema, &users, &changeset.ops, &gone)
            .await?;
        refresh.add_to(&mut changeset);
        let at = self
            .commit_checked(changeset, doomed.values().map(|node| node.kind.as_str()))
            .await?;
        // Number pools may hand out the numbers these nodes held again.
        for node in doomed.values() {
            if let Some(model) = schema.get(&node.kind) {
                self.numbers_freed(model, node);
            }
        }
        let refreshed = self.refresh_events(branch, &schema, refresh, at).await?;
        let mut events: Vec<Event> = doomed
            .into_values()
            .map(|node| {
                Event::NodeDeleted(NodeEvent {
                    branch: branch.to_string(),
                    kind: node.kind.clone(),
                    node_id: node.id,
                    at,
                    display_label: node.display_label.clone(),
                    attributes: node
                        .attributes
                        .iter()
                        .filter(|(_, a)| !a.value.is_null())
                        .map(|(name, a)| {
                            (
                                name.clone(),
                                AttributeChange {
                                    kind: String::new(),
                                    value: Value::Null,
                                    value_previous: a.value.clone(),
                                },
                            )
                        })
                        .collect(),
                    relationships: node
                        .relationships
                        .iter()
                        .filter(|(_, peers)| !peers.is_empty())
                        .map(|(name, peers)| {
                            (
                                name.clone(),
                                RelationshipChange {
                                    added: Vec::new(),
                                    removed: peers.iter().map(|p| p.id).collect(),
                                },
                            )
                        })
                        .collect(),
                })
            })
            .collect();
        events.extend(refreshed);
        Ok(events)
    }

    /// Refuses a delete of the `doomed` nodes when a node left behind requires one of them
    /// (mandatory relationship) and would keep too few peers. The kinds of the peers left
    /// behind are read in one call, and their links in another. Returns the conditions that
    /// keep the check true until the commit (of a delete and a write unlinking the other
    /// peers of such a node at once, one fails).
    async fn check_required(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        doomed: &BTreeMap<NodeId, Node>,
    ) -> Result<Vec<Condition>> {
        let mut left: Vec<NodeId> = doomed
            .values()
            .flat_map(|node| node.relationships.values().flatten().map(|p| p.id))
            .filter(|id| !doomed.contains_key(id))
            .collect();
        left.sort_unstable();
        left.dedup();
        if left.is_empty() {
            return Ok(Vec::new());
        }
        let kinds: HashMap<NodeId, String> = self
            .store()
            .get_nodes(view, &left, &Selection::nothing())
            .await?
            .into_iter()
            .map(|n| (n.id, n.kind))
            .collect();
        // The (node, relationship, peer, peer's model, reverse) checks, in the order their
        // errors would come.
        let mut checks = Vec::new();
        let mut selections: Vec<LinkSelection> = Vec::new();
        let mut wanted: BTreeSet<NodeId> = BTreeSet::new();
        for node in doomed.values() {
            let Some(model) = schema.get(&node.kind) else {
                continue;
            };
            for relationship in &model.relationships {
                for peer in node.peers(&relationship.name) {
                    if doomed.contains_key(&peer.id) {
                        continue;
                    }
                    let Some(peer_model) = kinds.get(&peer.id).and_then(|k| schema.get(k)) else {
                        continue;
                    };
                    let Some(reverse) = links::reverse(relationship, peer_model) else {
                        continue;
                    };
                    if reverse.optional && reverse.min_count == 0 {
                        continue;
                    }
                    let selection = links::selection(reverse);
                    if !selections.contains(&selection) {
                        selections.push(selection);
                    }
                    wanted.insert(peer.id);
                    checks.push((node, peer.id, peer_model, reverse));
                }
            }
        }
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<NodeId> = wanted.into_iter().collect();
        let selection = Selection {
            attributes: Some(Vec::new()),
            links: selections,
        };
        let linked: HashMap<NodeId, NodeData> = self
            .store()
            .get_nodes(view, &wanted, &selection)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        let mut conditions: Vec<Condition> = Vec::new();
        for (node, peer, peer_model, reverse) in checks {
            // The links of the one selection this check needs (the read may hold others).
            let identifier = reverse.identifier();
            let side = links::side(reverse);
            let remaining: std::collections::HashSet<(NodeId, infrahub_graph::Side)> = linked
                .get(&peer)
                .into_iter()
                .flat_map(|data| data.links.iter())
                .filter(|l| {
                    l.identifier == identifier
                        && (side == infrahub_graph::Side::Either || l.side == side)
                        && !doomed.contains_key(&l.peer)
                })
                .map(|l| (l.peer, l.side))
                .collect();
            if (remaining.len() as i64) < reverse.min_count.max(1) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "Cannot delete {} '{}': {} '{}' requires it through its mandatory relationship `{}`",
                        node.kind,
                        node.display_label,
                        peer_model.kind(),
                        peer,
                        reverse.name
                    ),
                ));
            }
            let min = usize::try_from(reverse.min_count.max(1)).unwrap_or(1);
            conditions.push(Condition::LinkCount {
                node: peer,
                identifier: reverse.identifier().to_string(),
                side: links::side(reverse),
                min,
                max: None,
                description: format!(
                    "Cannot delete {} '{}': {} '{}' requires it through its mandatory relationship `{}`, and another write removed its other peers at the same time",
                    node.kind,
                    node.display_label,
                    peer_model.kind(),
                    peer,
                    reverse.name
                ),
            });
        }
        Ok(conditions)
    }

    /// Adds peers to (`add = true`) or removes peers from a cardinality-many relationship of a
    /// node, leaving its other peers alone.
    pub async fn relationship_change(
        &self,
        branch: &str,
        node: &str,
        name: &str,
        peers: &[PeerInput],
        add: bool,
    ) -> Result<Vec<Event>> {
        let view = BranchView::now(branch);
        let schema = self.schema(branch)?;
        let id = parse_id("id", node)?;
        let existence = self
            .store()
            .get_nodes(&view, &[id], &Selection::nothing())
            .await?;
        let kind = existence.first().map(|n| n.kind.clone()).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("Unable to find the node {node} in the database."),
            )
        })?;
        let model = schema
            .get(&kind)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("kind `{kind}` not found")))?;
        let relationship = model
            .relationship(name)
            .ok_or_else(|| validation(format!("`{name}` is not a relationship of {kind}")))?;
        if relationship.cardinality != Cardinality::Many {
            return Err(validation(format!(
                "`{name}` of {kind} has cardinality one; set it with an update"
            )));
        }
        let current = self.read_back(branch, model, id).await?;
        let present: BTreeSet<NodeId> = current.peers(name).iter().map(|p| p.id).collect();
        let mut ops = Vec::new();
        let mut change = RelationshipChange::default();
        let mut conditions: Vec<Condition> = Vec::new();
        let mut count = present.len();
        // Every peer resolved, and the current partners of those to link read, in one call
        // each.
        let given: Vec<&PeerInput> = peers.iter().collect();
        let resolved = self
            .resolve_each(&view, &schema, model, relationship, &given)
            .await?;
        let linking: Vec<(NodeId, Option<&ModelSchema>)> = if add {
            resolved
                .iter()
                .filter(|(peer_id, _)| !present.contains(peer_id))
                .map(|(peer_id, peer_kind)| (*peer_id, schema.get(peer_kind)))
                .collect()
        } else {
            Vec::new()
        };
        let partners = self.single_partners(&view, relationship, &linking).await?;
        for (peer, (peer_id, peer_kind)) in peers.iter().zip(resolved) {
            match (add, present.contains(&peer_id)) {
                (true, false) => {
                    let properties = Engine::link_properties(relationship, peer, None)?;
                    Engine::link_peer(
                        relationship,
                        id,
                        (peer_id, schema.get(&peer_kind)),
                        properties,
                        &partners,
                        (&mut ops, &mut conditions),
                    );
                    change.added.push(peer_id);
                    count += 1;
                }
                (false, true) => {
                    ops.push(links::remove(relationship, id, peer_id));
                    change.removed.push(peer_id);
                    count -= 1;
                }
                _ => {}
            }
        }
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        Engine::check_counts(model, relationship, count)?;
        // Linking or unlinking profiles changes the values the nodes take from them, in the
        // same changeset.
        let users: BTreeSet<NodeId> = if name == PROFILES {
            BTreeSet::from([id])
        } else if is_profile(model) && name == RELATED_NODES {
            change
                .added
                .iter()
                .chain(&change.removed)
                .copied()
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut refresh = self
            .plan_refresh(branch, &schema, &users, &ops, &BTreeSet::new())
            .await?;
        // The node's own event reports what its profiles changed on it.
        let attributes = refresh.take_changes(id);
        let mut changeset = Changeset::new(branch);
        changeset.ops = ops;
        changeset.conditions = conditions;
        changeset
            .conditions
            .extend(Engine::count_condition(model, relationship, id));
        refresh.add_to(&mut changeset);
        let at = self.commit_checked(changeset, [kind.as_str()]).await?;
        let mut relationships = BTreeMap::new();
        relationships.insert(name.to_string(), change);
        let mut events = vec![Event::NodeUpdated(NodeEvent {
            branch: branch.to_string(),
            kind,
            node_id: id,
            at,
            display_label: current.display_label,
            attributes,
            relationships,
        })];
        events.extend(self.refresh_events(branch, &schema, refresh, at).await?);
        Ok(events)
    }
}
