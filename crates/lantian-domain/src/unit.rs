//! The organisation: units form a tree (bureau > offices and detachment, city > districts and
//! counties > streets). A user sees their unit's subtree; scores roll up the tree and are ranked
//! within a peer group.

use serde::{Deserialize, Serialize};

/// The kind of a unit in the organisation tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// 城市管理局: the root.
    Bureau,
    /// 局属单位 such as 市政处, 环卫处, 园林处.
    Office,
    /// 执法支队.
    Detachment,
    /// A district's urban-management (enforcement) bureau.
    District,
    /// A county or county-level city's urban-management (enforcement) bureau.
    County,
    /// A development zone's urban-management department.
    DevelopmentZone,
    /// 街道: below a district or county.
    Street,
    /// A utility (water, heating, gas) responsible for its works.
    Utility,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Bureau => "bureau",
            UnitKind::Office => "office",
            UnitKind::Detachment => "detachment",
            UnitKind::District => "district",
            UnitKind::County => "county",
            UnitKind::DevelopmentZone => "development_zone",
            UnitKind::Street => "street",
            UnitKind::Utility => "utility",
        }
    }

    pub fn parse(s: &str) -> Option<UnitKind> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// A unit as stored and served. `path` lists the codes from the root down to this unit, itself
/// included; it is what subtree checks use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: UnitKind,
    pub parent: Option<String>,
    pub peer_group: Option<String>,
    pub path: Vec<String>,
}

/// How an object's unit stands to the unit of the user who asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The user's own unit.
    Own,
    /// Somewhere below the user's unit.
    Descendant,
    /// Above the user's unit.
    Ancestor,
    /// Elsewhere in the tree (a sibling or a cousin).
    Unrelated,
    /// The object belongs to no unit (checklist templates, campaigns); the caller is below the
    /// root.
    Global,
    /// A global object, and the caller belongs to a root unit (the bureau at the top of the tree).
    GlobalFromRoot,
}

impl Relation {
    /// Whether the object lies in the user's subtree (or is global).
    pub fn in_subtree(self) -> bool {
        matches!(
            self,
            Relation::Own | Relation::Descendant | Relation::Global | Relation::GlobalFromRoot
        )
    }
}

/// Relation of an object's unit to the user's, from their root-first code paths.
/// How a global object stands to a user with `user_path`: seen from a root unit or from below.
pub fn global_relation(user_path: &[String]) -> Relation {
    if user_path.len() <= 1 {
        Relation::GlobalFromRoot
    } else {
        Relation::Global
    }
}

pub fn relation(user_path: &[String], object_path: &[String]) -> Relation {
    if user_path == object_path {
        Relation::Own
    } else if object_path.starts_with(user_path) {
        Relation::Descendant
    } else if user_path.starts_with(object_path) {
        Relation::Ancestor
    } else {
        Relation::Unrelated
    }
}

/// A supervising department (督导科室) of the bureau, such as 市容管理科 or 考评督查科.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

/// A unit code is lowercase ASCII letters, digits, `_` and `-`, 2 to 64 characters: it appears in
/// URLs and CSV files, so it must need no escaping anywhere.
pub fn valid_unit_code(code: &str) -> bool {
    (2..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn relations_follow_the_tree() {
        let user = p("bureau/dongchangfu");
        assert_eq!(relation(&user, &p("bureau/dongchangfu")), Relation::Own);
        assert_eq!(
            relation(&user, &p("bureau/dongchangfu/gulou")),
            Relation::Descendant
        );
        assert_eq!(relation(&user, &p("bureau")), Relation::Ancestor);
        assert_eq!(relation(&user, &p("bureau/shenxian")), Relation::Unrelated);
        assert_eq!(
            relation(&user, &p("bureau/shenxian/x")),
            Relation::Unrelated
        );
    }

    #[test]
    fn a_code_with_a_prefix_name_is_not_a_descendant() {
        // Paths compare whole codes, so "dong" is not the parent of "dongchangfu".
        let user = p("bureau/dong");
        assert_eq!(
            relation(&user, &p("bureau/dongchangfu")),
            Relation::Unrelated
        );
    }

    #[test]
    fn unit_codes_need_no_escaping() {
        assert!(valid_unit_code("dongchangfu"));
        assert!(valid_unit_code("utility-gas_1"));
        assert!(!valid_unit_code("东昌府"));
        assert!(!valid_unit_code("a/b"));
        assert!(!valid_unit_code(".."));
        assert!(!valid_unit_code("x"));
    }
}
