//! Roles of the people who use lantian.

use serde::{Deserialize, Serialize};

/// What a user does. Every user also belongs to one unit and sees that unit's subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 执法人员: inspects on site, offline.
    Inspector,
    /// 督导: reviews inspections, opens rectification orders.
    Supervisor,
    /// 考评督查: runs the monthly assessment and the bulletin.
    Assessor,
    /// Manages the subjects and users of their own unit's subtree.
    UnitAdmin,
    /// Manages everything, including checklist templates.
    Admin,
    /// Leaders: read only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Inspector,
        Role::Supervisor,
        Role::Assessor,
        Role::UnitAdmin,
        Role::Admin,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inspector => "inspector",
            Role::Supervisor => "supervisor",
            Role::Assessor => "assessor",
            Role::UnitAdmin => "unit_admin",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Inspector => "执法人员",
            Role::Supervisor => "督导",
            Role::Assessor => "考评督查",
            Role::UnitAdmin => "单位管理员",
            Role::Admin => "系统管理员",
            Role::Viewer => "领导（只读）",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_back_from_its_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
