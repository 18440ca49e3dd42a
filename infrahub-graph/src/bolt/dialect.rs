//! What differs between the Bolt databases the store runs on: the schema statements run at
//! startup. Every other statement the store sends is written in the Cypher subset that Neo4j 5,
//! Memgraph and ArcadeDB all accept (see docs/adr/0004-bolt-store-layout.md).

/// Which Cypher dialect a server speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Neo4j 5, and ArcadeDB, which accepts Neo4j 5's schema statements.
    #[default]
    Neo4j5,
    /// Memgraph: `CREATE INDEX ON :L(p)` and `ASSERT` constraints, no relationship indexes by
    /// name.
    #[allow(dead_code)]
    Memgraph,
}

impl Dialect {
    /// The schema statements run at startup; each may be run again (`IF NOT EXISTS`, or an
    /// "already exists" failure the caller ignores).
    pub(crate) fn schema(self) -> Vec<String> {
        match self {
            Dialect::Neo4j5 => vec![
                "CREATE CONSTRAINT infrahub_node_uuid IF NOT EXISTS FOR (n:Node) REQUIRE n.uuid IS UNIQUE".into(),
                "CREATE CONSTRAINT infrahub_branch_name IF NOT EXISTS FOR (n:Branch) REQUIRE n.name IS UNIQUE".into(),
                "CREATE INDEX infrahub_label_name IF NOT EXISTS FOR (n:Label) ON (n.name)".into(),
                "CREATE INDEX infrahub_change IF NOT EXISTS FOR (n:Change) ON (n.branch, n.at)".into(),
                "CREATE INDEX infrahub_attribute IF NOT EXISTS FOR (n:Attribute) ON (n.node, n.name)".into(),
                "CREATE INDEX infrahub_value_key IF NOT EXISTS FOR (n:AttributeValue) ON (n.key)".into(),
                "CREATE INDEX infrahub_indexed_key IF NOT EXISTS FOR (n:AttributeValueIndexed) ON (n.key)".into(),
                "CREATE INDEX infrahub_indexed_number IF NOT EXISTS FOR (n:AttributeValueIndexed) ON (n.number)".into(),
                "CREATE INDEX infrahub_indexed_text IF NOT EXISTS FOR (n:AttributeValueIndexed) ON (n.text)".into(),
                "CREATE INDEX infrahub_is_part_of IF NOT EXISTS FOR ()-[e:IS_PART_OF]-() ON (e.branch, e.from)".into(),
                "CREATE INDEX infrahub_has_value IF NOT EXISTS FOR ()-[e:HAS_VALUE]-() ON (e.branch, e.from)".into(),
                "CREATE INDEX infrahub_is_related IF NOT EXISTS FOR ()-[e:IS_RELATED]-() ON (e.branch, e.from)".into(),
            ],
            Dialect::Memgraph => vec![
                "CREATE CONSTRAINT ON (n:Node) ASSERT n.uuid IS UNIQUE".into(),
                "CREATE CONSTRAINT ON (n:Branch) ASSERT n.name IS UNIQUE".into(),
                "CREATE INDEX ON :Label(name)".into(),
                "CREATE INDEX ON :Change(branch, at)".into(),
                "CREATE INDEX ON :Attribute(node, name)".into(),
                "CREATE INDEX ON :AttributeValue(key)".into(),
                "CREATE INDEX ON :AttributeValueIndexed(key)".into(),
                "CREATE INDEX ON :AttributeValueIndexed(number)".into(),
                "CREATE INDEX ON :AttributeValueIndexed(text)".into(),
                "CREATE EDGE INDEX ON :IS_PART_OF(branch)".into(),
                "CREATE EDGE INDEX ON :HAS_VALUE(branch)".into(),
                "CREATE EDGE INDEX ON :IS_RELATED(branch)".into(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_creates_the_same_schema() {
        assert!(
            Dialect::Neo4j5
                .schema()
                .iter()
                .all(|s| s.contains("IF NOT EXISTS"))
        );
        assert_eq!(
            Dialect::Memgraph.schema().len(),
            Dialect::Neo4j5.schema().len()
        );
    }
}
