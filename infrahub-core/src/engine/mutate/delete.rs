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
        let mut doomed: BTreeMap<NodeId, Node> = BTreeMap::new();
        let mut queue: Vec<NodeId> = roots.to_vec();
        while let Some(id) = queue.pop() {
            if doomed.contains_key(&id) {
                continue;
            }
            let existence = self
                .store()
                .get_nodes(&view, &[id], &Selection::nothing())
                .await?;
            let Some(kind) = existence.first().map(|n| n.kind.clone()) else {
                continue;
            };
            let Some(model) = schema.get(&kind) else {
                continue;
            };
            let node = self.read_back(branch, model, id).await?;
            for relationship in &model.relationships {
                if relationship.on_delete == Some(OnDelete::Cascade) {
                    queue.extend(node.peers(&relationship.name).iter().map(|p| p.id));
                }
            }
            doomed.insert(id, node);
        }
        check(&doomed.values().map(|node| node.kind.clone()).collect())?;
        // A node another node requires (mandatory relationship) cannot go alone.
        for node in doomed.values() {
            let Some(model) = schema.get(&node.kind) else {
                continue;
            };
            for relationship in &model.relationships {
                for peer in node.peers(&relationship.name) {
                    if doomed.contains_key(&peer.id) {
                        continue;
                    }
                    let existence = self
                        .store()
                        .get_nodes(&view, &[peer.id], &Selection::nothing())
                        .await?;
                    let Some(peer_model) = existence.first().and_then(|n| schema.get(&n.kind))
                    else {
                        continue;
                    };
                    let Some(reverse) = links::reverse(relationship, peer_model) else {
                        continue;
                    };
                    if reverse.optional && reverse.min_count == 0 {
                        continue;
                    }
                    let selection = Selection {
                        attributes: Some(Vec::new()),
                        links: vec![LinkSelection {
                            identifier: reverse.identifier().to_string(),
                            side: links::side(reverse),
                        }],
                    };
                    let remaining = self
                        .store()
                        .get_nodes(&view, &[peer.id], &selection)
                        .await?
                        .iter()
                        .flat_map(|n| n.links.iter())
                        .filter(|l| !doomed.contains_key(&l.peer))
                        .count();
                    if (remaining as i64) < reverse.min_count.max(1) {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "Cannot delete {} '{}': {} '{}' requires it through its mandatory relationship `{}`",
                                node.kind,
                                node.display_label,
                                peer_model.kind(),
                                peer.id,
                                reverse.name
                            ),
                        ));
                    }
                }
            }
        }
        let mut changeset = Changeset::new(branch);
        // What hung from a deleted IP prefix goes to the prefix above it, before the deletes.
        let _ipam = if doomed
            .values()
            .any(|n| schema.get(&n.kind).and_then(IpamRole::of).is_some())
        {
            let guard = self.ipam_lock(branch).await;
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
        let mut count = present.len();
        for peer in peers {
            let (peer_id, peer_kind) = self
                .resolve_peer(&view, &schema, model, relationship, peer)
                .await?;
            match (add, present.contains(&peer_id)) {
                (true, false) => {
                    let properties = Engine::link_properties(relationship, peer, None)?;
                    self.link_peer(
                        &view,
                        relationship,
                        id,
                        (peer_id, schema.get(&peer_kind)),
                        properties,
                        &mut ops,
                    )
                    .await?;
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
