//! Pages of this group: tests added with the pages.

#[allow(unused_imports)]
use super::common::*;
