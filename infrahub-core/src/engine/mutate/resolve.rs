//! Resolving what an input designates: nodes by id, default filter or human-friendly id,
//! relationship peers of accepted kinds, stored values, and the link properties and counts
//! of relationships.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Engine {
    /// Finds the node `reference` designates among nodes of `kind`: by id, by a value of the
    /// kind's `default_filter` when the id is not a UUID, or by human-friendly id.
    pub async fn resolve(
        &self,
        view: &BranchView,
        kind: &str,
        reference: &NodeRef,
    ) -> Result<NodeId> {
        let schema = self.schema_for(view).await?;
        let model = super::super::filters::model_of(&schema, kind, view)?;
        self.resolve_in(
            view,
            &schema,
            model,
            reference.id.as_deref(),
            reference.hfid.as_deref(),
        )
        .await?
        .map(|(id, _)| id)
        .ok_or_else(|| {
            let what = reference
                .id
                .clone()
                .or_else(|| reference.hfid.as_ref().map(|h| format!("{h:?}")))
                .unwrap_or_default();
            Error::new(
                ErrorKind::NotFound,
                format!("Unable to find the node {what} / {kind} in the database."),
            )
        })
    }

    /// The node of `model`'s kind (or a kind using it) that `id` or `hfid` designates, with
    /// its concrete kind.
    pub(super) async fn resolve_in(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        id: Option<&str>,
        hfid: Option<&[String]>,
    ) -> Result<Option<(NodeId, String)>> {
        let kind = model.kind();
        let find = |filters: Vec<Filter>| NodeQuery {
            labels: vec![kind.clone()],
            filters,
            limit: Some(2),
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            if let Ok(uuid) = id.parse::<NodeId>() {
                let found = self
                    .store()
                    .get_nodes(view, &[uuid], &Selection::nothing())
                    .await?;
                return Ok(found
                    .into_iter()
                    .find(|n| n.labels.contains(&kind))
                    .map(|n| (n.id, n.kind)));
            }
            let Some(filter) = &model.default_filter else {
                return Ok(None);
            };
            let mut args = BTreeMap::new();
            args.insert(filter.clone(), Value::String(id.to_string()));
            let filters = super::super::filters::parse_filters(schema, model, &args, false)?;
            let mut result = self.store().query(view, &find(filters)).await?;
            return Ok(match result.nodes.pop() {
                Some(node) if result.nodes.is_empty() => Some((node.id, node.kind)),
                _ => None,
            });
        }
        if let Some(hfid) = hfid {
            let filters = hfid_filters(schema, model, hfid)?;
            let mut result = self.store().query(view, &find(filters)).await?;
            return match result.nodes.len() {
                0 => Ok(None),
                1 => Ok(result.nodes.pop().map(|n| (n.id, n.kind))),
                _ => Err(Error::new(
                    ErrorKind::Conflict,
                    format!("more than one {kind} has the human-friendly id {hfid:?}"),
                )),
            };
        }
        Ok(None)
    }

    /// Resolves a relationship peer and checks its kind.
    pub(super) async fn resolve_peer(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        owner: &ModelSchema,
        relationship: &RelationshipSchema,
        peer: &PeerInput,
    ) -> Result<(NodeId, String)> {
        let mut found = self
            .resolve_each(view, schema, owner, relationship, &[peer])
            .await?;
        found.pop().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                "a resolved peer went missing".to_string(),
            )
        })
    }

    /// Resolves relationship peers, in the order given, and checks their kinds: the first
    /// peer that cannot be resolved gives the error. Peers given by id are read in one call,
    /// those given by human-friendly id or default filter in one query per kind (see
    /// [`Engine::find_each`]), whatever their number.
    pub(super) async fn resolve_each(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        owner: &ModelSchema,
        relationship: &RelationshipSchema,
        peers: &[&PeerInput],
    ) -> Result<Vec<(NodeId, String)>> {
        /// How a peer is looked up.
        enum Plan {
            /// Refused before any lookup.
            Failed(Error),
            /// By node id.
            Id(NodeId),
            /// By filters on nodes of a kind: lookup `index` of that kind, whose answer is
            /// a human-friendly id's (several matches are an error) or a default filter's
            /// (several matches find nothing).
            Filters { index: usize, hfid: Option<String> },
            /// Designates nothing.
            Nothing,
        }
        let mut plans: Vec<(Plan, String, String)> = Vec::with_capacity(peers.len());
        let mut ids: Vec<NodeId> = Vec::new();
        let mut lookups: Vec<(String, Vec<Vec<Filter>>)> = Vec::new();
        for peer in peers {
            let lookup_kind = peer
                .kind
                .clone()
                .filter(|k| links::accepts(schema, relationship, k))
                .unwrap_or_else(|| relationship.peer.clone());
            let what = peer
                .id
                .clone()
                .or_else(|| peer.hfid.as_ref().map(|h| format!("{h:?}")))
                .unwrap_or_default();
            let Some(model) = schema.get(&lookup_kind) else {
                let error = validation(format!("kind `{lookup_kind}` not found"));
                plans.push((Plan::Failed(error), what, lookup_kind));
                continue;
            };
            if peer.id.is_none() && peer.hfid.is_none() {
                let error = validation(format!(
                    "a peer of `{}` of {} needs an `id` or an `hfid`",
                    relationship.name,
                    owner.kind()
                ));
                plans.push((Plan::Failed(error), what, lookup_kind));
                continue;
            }
            let mut by_filters = |filters: Vec<Filter>, hfid: Option<String>| {
                let kind = model.kind();
                let slot = match lookups.iter().position(|(k, _)| *k == kind) {
                    Some(slot) => slot,
                    None => {
                        lookups.push((kind, Vec::new()));
                        lookups.len() - 1
                    }
                };
                lookups[slot].1.push(filters);
                Plan::Filters {
                    index: lookups[slot].1.len() - 1,
                    hfid,
                }
            };
            let plan = if let Some(id) = peer.id.as_deref().filter(|i| !i.is_empty()) {
                if let Ok(uuid) = id.parse::<NodeId>() {
                    if !ids.contains(&uuid) {
                        ids.push(uuid);
                    }
                    Plan::Id(uuid)
                } else if let Some(filter) = &model.default_filter {
                    let mut args = BTreeMap::new();
                    args.insert(filter.clone(), Value::String(id.to_string()));
                    match super::super::filters::parse_filters(schema, model, &args, false) {
                        Ok(filters) => by_filters(filters, None),
                        Err(error) => Plan::Failed(error),
                    }
                } else {
                    Plan::Nothing
                }
            } else if let Some(hfid) = &peer.hfid {
                match hfid_filters(schema, model, hfid) {
                    Ok(filters) => by_filters(filters, Some(format!("{hfid:?}"))),
                    Err(error) => Plan::Failed(error),
                }
            } else {
                Plan::Nothing
            };
            plans.push((plan, what, lookup_kind));
        }
        let by_id: HashMap<NodeId, NodeData> = if ids.is_empty() {
            HashMap::new()
        } else {
            self.store()
                .get_nodes(view, &ids, &Selection::nothing())
                .await?
                .into_iter()
                .map(|n| (n.id, n))
                .collect()
        };
        let mut by_filters: HashMap<String, Vec<Vec<(NodeId, String)>>> = HashMap::new();
        for (kind, filters) in &lookups {
            let found = self.find_each(view, kind, filters).await?;
            by_filters.insert(kind.clone(), found);
        }
        let mut resolved = Vec::with_capacity(plans.len());
        for (plan, what, lookup_kind) in plans {
            let model_kind = schema
                .get(&lookup_kind)
                .map(|m| m.kind())
                .unwrap_or_default();
            let found = match plan {
                Plan::Failed(error) => return Err(error),
                Plan::Nothing => None,
                Plan::Id(uuid) => match by_id.get(&uuid) {
                    Some(node) if node.labels.contains(&model_kind) => {
                        Some((node.id, node.kind.clone()))
                    }
                    Some(other) => {
                        return Err(validation(format!(
                            "`{}` of {} only accepts {} peers, {what} is a {}",
                            relationship.name,
                            owner.kind(),
                            relationship.peer,
                            other.kind
                        )));
                    }
                    None => None,
                },
                Plan::Filters { index, hfid } => {
                    let matches = by_filters
                        .get(&model_kind)
                        .and_then(|found| found.get(index))
                        .cloned()
                        .unwrap_or_default();
                    match (matches.len(), hfid) {
                        (1, _) => matches.into_iter().next(),
                        (0, _) | (_, None) => None,
                        (_, Some(hfid)) => {
                            return Err(Error::new(
                                ErrorKind::Conflict,
                                format!(
                                    "more than one {model_kind} has the human-friendly id {hfid}"
                                ),
                            ));
                        }
                    }
                }
            };
            let (id, kind) = found.ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("Unable to find the node {what} / {lookup_kind} in the database."),
                )
            })?;
            if !links::accepts(schema, relationship, &kind) {
                return Err(validation(format!(
                    "`{}` of {} only accepts {} peers, {what} is a {kind}",
                    relationship.name,
                    owner.kind(),
                    relationship.peer
                )));
            }
            resolved.push((id, kind));
        }
        Ok(resolved)
    }

    /// The value an attribute is stored with: validated, canonical, passwords hashed.
    pub(super) async fn stored_value(
        &self,
        model: &ModelSchema,
        attribute: &AttributeSchema,
        value: &Value,
    ) -> Result<Value> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let canonical = crate::value::canonicalize(attribute, value).map_err(|message| {
            validation(format!(
                "{}: {message} ({}.{})",
                attribute.name,
                model.kind(),
                attribute.name
            ))
        })?;
        if attribute.kind == AttributeKind::HashedPassword
            && let Some(text) = canonical.as_str()
            && !text.starts_with("$2")
        {
            return Ok(Value::String(
                hash_password(text.to_string(), self.options().bcrypt_cost).await?,
            ));
        }
        Ok(canonical)
    }

    /// Lays the file `input` carries (if any) over its attributes: the read-only file
    /// attributes of a kind inheriting `CoreFileObject`. Returns their names (the write may set
    /// them); a kind without a file, or a file attribute given by hand, is refused.
    pub(super) fn take_file(
        model: &ModelSchema,
        input: &mut NodeInput,
    ) -> Result<BTreeSet<String>> {
        let Some(file) = input.file.take() else {
            return Ok(BTreeSet::new());
        };
        if !model
            .inherit_from
            .iter()
            .any(|g| g == super::super::input::FILE_OBJECT)
        {
            return Err(validation(format!(
                "{} does not carry a file: only kinds inheriting {} do",
                model.kind(),
                super::super::input::FILE_OBJECT
            )));
        }
        let mut names = BTreeSet::new();
        for (name, value) in file.attributes() {
            if input.attributes.contains_key(name) {
                return Err(validation(format!(
                    "`{name}` of {} is read-only: it comes from the uploaded file",
                    model.kind()
                )));
            }
            input
                .attributes
                .insert(name.to_string(), AttributeInput::value(value));
            names.insert(name.to_string());
        }
        Ok(names)
    }

    pub(super) fn check_attribute_names(model: &ModelSchema, input: &NodeInput) -> Result<()> {
        for name in input.attributes.keys() {
            if model.attribute(name).is_none() {
                return Err(validation(format!(
                    "`{name}` is not an attribute of {}",
                    model.kind()
                )));
            }
        }
        for name in input.relationships.keys() {
            if model.relationship(name).is_none() {
                return Err(validation(format!(
                    "`{name}` is not a relationship of {}",
                    model.kind()
                )));
            }
        }
        Ok(())
    }

    /// Peers of `relationship` as given, resolved, checked against cardinality and counts.
    pub(super) async fn resolve_peers(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        relationship: &RelationshipSchema,
        given: &RelationshipInput,
    ) -> Result<Vec<ResolvedPeer>> {
        let inputs: Vec<&PeerInput> = match given {
            RelationshipInput::One(Some(peer)) => vec![peer],
            RelationshipInput::One(None) => Vec::new(),
            RelationshipInput::Many(peers) => peers.iter().collect(),
        };
        if relationship.cardinality == Cardinality::One && inputs.len() > 1 {
            return Err(validation(format!(
                "`{}` of {} takes one peer, {} given",
                relationship.name,
                model.kind(),
                inputs.len()
            )));
        }
        let found = self
            .resolve_each(view, schema, model, relationship, &inputs)
            .await?;
        let mut resolved: Vec<ResolvedPeer> = Vec::new();
        for ((id, kind), peer) in found.into_iter().zip(inputs) {
            if !resolved.iter().any(|r| r.id == id) {
                resolved.push(ResolvedPeer {
                    id,
                    kind,
                    input: peer.clone(),
                });
            }
        }
        Ok(resolved)
    }

    pub(super) fn check_counts(
        model: &ModelSchema,
        relationship: &RelationshipSchema,
        count: usize,
    ) -> Result<()> {
        // The kind is spelled out only for an error: most writes pass.
        if !relationship.optional && count == 0 {
            return Err(validation(format!(
                "{} is mandatory for {} at {}",
                relationship.name,
                model.kind(),
                relationship.name
            )));
        }
        // An optional relationship may hold no peer whatever its min_count, as upstream: the
        // relationships of object templates keep their node's counts but are all optional.
        if !relationship.optional
            && relationship.min_count > 0
            && (count as i64) < relationship.min_count
        {
            return Err(validation(format!(
                "`{}` of {} needs at least {} peers, {count} given",
                relationship.name,
                model.kind(),
                relationship.min_count
            )));
        }
        if relationship.max_count > 0 && (count as i64) > relationship.max_count {
            return Err(validation(format!(
                "`{}` of {} takes at most {} peers, {count} given",
                relationship.name,
                model.kind(),
                relationship.max_count
            )));
        }
        Ok(())
    }

    pub(super) fn link_properties(
        relationship: &RelationshipSchema,
        peer: &PeerInput,
        current: Option<&super::super::node::Peer>,
    ) -> Result<LinkProperties> {
        Ok(LinkProperties {
            is_protected: peer
                .is_protected
                .or(current.map(|c| c.is_protected))
                .unwrap_or(false),
            is_visible: peer
                .is_visible
                .or(current.map(|c| c.is_visible))
                .unwrap_or(true),
            source: optional_id("_relation__source", &peer.source)?
                .or(current.and_then(|c| c.source)),
            owner: optional_id("_relation__owner", &peer.owner)?.or(current.and_then(|c| c.owner)),
            hierarchy: relationship.hierarchical.clone(),
        })
    }

    /// The current partners of each of `peers` (id and model) through the other side of
    /// `relationship`, for the peers whose other side holds at most one peer (the others are
    /// left out): read in one call whatever their number.
    pub(super) async fn single_partners(
        &self,
        view: &BranchView,
        relationship: &RelationshipSchema,
        peers: &[(NodeId, Option<&ModelSchema>)],
    ) -> Result<HashMap<NodeId, Vec<NodeId>>> {
        let mut wanted: Vec<NodeId> = Vec::new();
        let mut selection: Option<LinkSelection> = None;
        for (peer, peer_model) in peers {
            let Some(reverse) = peer_model.and_then(|m| links::reverse(relationship, m)) else {
                continue;
            };
            if reverse.cardinality != Cardinality::One {
                continue;
            }
            // The other side has the relationship's identifier and the opposite direction:
            // the same selection whatever the peer's kind.
            selection.get_or_insert_with(|| links::selection(reverse));
            if !wanted.contains(peer) {
                wanted.push(*peer);
            }
        }
        let Some(selection) = selection else {
            return Ok(HashMap::new());
        };
        let selection = Selection {
            attributes: Some(Vec::new()),
            links: vec![selection],
        };
        let read = self.store().get_nodes(view, &wanted, &selection).await?;
        let mut partners: HashMap<NodeId, Vec<NodeId>> =
            wanted.iter().map(|peer| (*peer, Vec::new())).collect();
        for node in read {
            partners.insert(node.id, node.links.iter().map(|l| l.peer).collect());
        }
        Ok(partners)
    }

    /// Operations that link `node` to a new peer through `relationship` (with `properties`),
    /// first detaching the peer from its current partner when the other side holds at most
    /// one peer (moving an interface to another device); `partners` are the peers' current
    /// partners, as [`Engine::single_partners`] read them. The peer holding one partner after
    /// the write becomes a condition of the changeset (`conditions`): of two writes linking
    /// the same peer at once, one fails.
    pub(super) fn link_peer(
        relationship: &RelationshipSchema,
        node: NodeId,
        (peer, peer_model): (NodeId, Option<&ModelSchema>),
        properties: LinkProperties,
        partners: &HashMap<NodeId, Vec<NodeId>>,
        (ops, conditions): (&mut Vec<Op>, &mut Vec<Condition>),
    ) {
        if let Some(peer_model) = peer_model
            && let Some(reverse) = links::reverse(relationship, peer_model)
            && reverse.cardinality == Cardinality::One
        {
            for partner in partners.get(&peer).into_iter().flatten() {
                if *partner != node {
                    ops.push(links::remove(reverse, peer, *partner));
                }
            }
            conditions.push(Condition::LinkCount {
                node: peer,
                identifier: reverse.identifier().to_string(),
                side: links::side(reverse),
                min: 0,
                max: Some(1),
                description: format!(
                    "`{}` of {} {peer} holds one peer: another write linked it at the same time",
                    reverse.name,
                    peer_model.kind()
                ),
            });
        }
        ops.push(links::set(relationship, node, peer, properties));
    }

    /// The condition that keeps the number of peers of `relationship` of `node` within what
    /// the schema allows (cardinality one, `max_count`, mandatory and `min_count`) after a
    /// write that changes them: of two writes changing them at once, the one that would
    /// leave too many or too few fails. `None` when the relationship has no bound.
    pub(super) fn count_condition(
        model: &ModelSchema,
        relationship: &RelationshipSchema,
        node: NodeId,
    ) -> Option<Condition> {
        let min = if relationship.optional {
            0
        } else {
            usize::try_from(relationship.min_count.max(1)).unwrap_or(1)
        };
        let max = if relationship.cardinality == Cardinality::One {
            Some(1)
        } else if relationship.max_count > 0 {
            usize::try_from(relationship.max_count).ok()
        } else {
            None
        };
        if min == 0 && max.is_none() {
            return None;
        }
        Some(Condition::LinkCount {
            node,
            identifier: relationship.identifier().to_string(),
            side: links::side(relationship),
            min,
            max,
            description: format!(
                "`{}` of {} {node} must hold {}: another write changed its peers at the same time",
                relationship.name,
                model.kind(),
                match max {
                    Some(max) if max == min => format!("{min} peer(s)"),
                    Some(max) => format!("{min} to {max} peers"),
                    None => format!("at least {min} peer(s)"),
                }
            ),
        })
    }
}
