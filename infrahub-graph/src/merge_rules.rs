//! The property-by-property merge rules both backends apply when a branch merges: which
//! value and which lineage properties (protected, visible, source, owner) the default branch
//! ends with, given the base version, the branch's version and the properties to keep.

use crate::change::SlotProperty;
use crate::model::{AttributeValue, LinkProperties, NodeId, Slot};

pub(crate) fn keeps(choices: &[(Slot, SlotProperty)], slot: &Slot, property: SlotProperty) -> bool {
    choices.iter().any(|(s, p)| s == slot && *p == property)
}

/// The lineage properties attributes and links share: whether protected, whether visible,
/// source and owner.
pub(crate) type LineageFields = (bool, bool, Option<NodeId>, Option<NodeId>);

/// Versions that carry lineage properties.
pub(crate) trait Lineage {
    fn lineage(&self) -> LineageFields;
    fn set_lineage(&mut self, fields: LineageFields);
}

impl Lineage for AttributeValue {
    fn lineage(&self) -> LineageFields {
        (self.is_protected, self.is_visible, self.source, self.owner)
    }

    fn set_lineage(&mut self, fields: LineageFields) {
        (self.is_protected, self.is_visible, self.source, self.owner) = fields;
    }
}

impl Lineage for LinkProperties {
    fn lineage(&self) -> LineageFields {
        (self.is_protected, self.is_visible, self.source, self.owner)
    }

    fn set_lineage(&mut self, fields: LineageFields) {
        (self.is_protected, self.is_visible, self.source, self.owner) = fields;
    }
}

/// `onto` (or `base`, or the branch's own version when neither exists) with every lineage
/// property the branch changed relative to `base`, except those in `keep`.
pub(crate) fn merge_lineage<T: Lineage + Clone>(
    base: Option<&T>,
    branch: &T,
    onto: Option<&T>,
    slot: &Slot,
    keep: &[(Slot, SlotProperty)],
) -> T {
    let mut out = onto.or(base).cloned().unwrap_or_else(|| branch.clone());
    let theirs = branch.lineage();
    let before = base.map(Lineage::lineage);
    let mut fields = out.lineage();
    let take = |property: SlotProperty, differs: bool| {
        (before.is_none() || differs) && !keeps(keep, slot, property)
    };
    if take(
        SlotProperty::IsProtected,
        before.is_some_and(|b| b.0 != theirs.0),
    ) {
        fields.0 = theirs.0;
    }
    if take(
        SlotProperty::IsVisible,
        before.is_some_and(|b| b.1 != theirs.1),
    ) {
        fields.1 = theirs.1;
    }
    if take(
        SlotProperty::Source,
        before.is_some_and(|b| b.2 != theirs.2),
    ) {
        fields.2 = theirs.2;
    }
    if take(SlotProperty::Owner, before.is_some_and(|b| b.3 != theirs.3)) {
        fields.3 = theirs.3;
    }
    out.set_lineage(fields);
    out
}

/// `onto` with every property the branch changed relative to `base` (except those in
/// `keep`), for attributes.
pub(crate) fn merge_attribute(
    base: Option<&AttributeValue>,
    branch: &AttributeValue,
    onto: Option<&AttributeValue>,
    slot: &Slot,
    keep: &[(Slot, SlotProperty)],
) -> AttributeValue {
    let mut out = merge_lineage(base, branch, onto, slot, keep);
    let value_differs = base.is_some_and(|b| {
        b.value != branch.value
            || b.is_default != branch.is_default
            || b.is_from_profile != branch.is_from_profile
    });
    if (base.is_none() || value_differs) && !keeps(keep, slot, SlotProperty::Value) {
        out.value = branch.value.clone();
        out.is_default = branch.is_default;
        out.is_from_profile = branch.is_from_profile;
    }
    out
}

/// The same for link properties.
pub(crate) fn merge_link(
    base: Option<&LinkProperties>,
    branch: &LinkProperties,
    onto: Option<&LinkProperties>,
    slot: &Slot,
    keep: &[(Slot, SlotProperty)],
) -> LinkProperties {
    let mut out = merge_lineage(base, branch, onto, slot, keep);
    out.hierarchy = branch.hierarchy.clone().or(out.hierarchy);
    out
}
