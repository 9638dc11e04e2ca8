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

impl Role {
    /// How much a role may do, for the rule that nobody grants more than they hold: officers and
    /// leaders (read only) 1, supervisors and assessors 2, unit administrators 3, administrators 4.
    pub fn rank(self) -> u8 {
        match self {
            Role::Inspector | Role::Viewer => 1,
            Role::Supervisor | Role::Assessor => 2,
            Role::UnitAdmin => 3,
            Role::Admin => 4,
        }
    }
}

/// Why a change to a user (disable, enable, role, unit) is refused, beyond the policy table's
/// subtree rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChangeRefusal {
    /// Nobody disables, re-roles or moves their own account.
    OwnAccount,
    /// A role may be granted only if it is no higher than the caller's own; and a user whose role
    /// is higher than the caller's is not the caller's to change.
    RoleTooHigh,
}

/// Whether a caller with `caller_role` may change a user who has `target_role` (`themselves`: the
/// caller's own account), granting `grant` if the change is a role.
pub fn check_user_change(
    caller_role: Role,
    themselves: bool,
    target_role: Role,
    grant: Option<Role>,
) -> Result<(), UserChangeRefusal> {
    if themselves {
        return Err(UserChangeRefusal::OwnAccount);
    }
    if target_role.rank() > caller_role.rank()
        || grant.is_some_and(|g| g.rank() > caller_role.rank())
    {
        return Err(UserChangeRefusal::RoleTooHigh);
    }
    Ok(())
}

/// The shortest password an account may have, in characters: these accounts reach evidence that
/// penalties rest on.
pub const PASSWORD_MIN_CHARS: usize = 10;

/// Usernames are 3 to 64 ASCII letters, digits, `_`, `-` or `.`, compared without case.
pub fn valid_username(name: &str) -> bool {
    (3..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The rules of a new account's name and password, before anything is hashed or stored.
pub fn check_new_account(username: &str, password: &str) -> Result<(), crate::ValidationError> {
    if !valid_username(username) {
        return Err(crate::ValidationError::new(
            "username_invalid",
            "username",
            "usernames are 3 to 64 ASCII letters, digits, _, - or .",
        ));
    }
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(crate::ValidationError::new(
            "password_too_short",
            "password",
            format!("the password must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    Ok(())
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

    #[test]
    fn a_new_account_needs_a_plain_name_and_ten_characters_of_password() {
        assert!(check_new_account("wang.li", "correct-horse").is_ok());
        let e = check_new_account("王丽", "correct-horse").expect_err("non-ASCII name");
        assert_eq!((e.code, e.field.as_str()), ("username_invalid", "username"));
        let e = check_new_account("ab", "correct-horse").expect_err("too short a name");
        assert_eq!(e.code, "username_invalid");
        // Ten characters, counted as characters: nine Chinese characters are too few.
        let e = check_new_account("wang.li", "九个汉字九个汉字九").expect_err("nine characters");
        assert_eq!(
            (e.code, e.field.as_str()),
            ("password_too_short", "password")
        );
        assert!(check_new_account("wang.li", "十个汉字十个汉字十个").is_ok());
    }
}

#[cfg(test)]
mod change_tests {
    use super::*;

    #[test]
    fn nobody_changes_themselves_or_grants_more_than_they_hold() {
        use Role::*;
        assert_eq!(
            check_user_change(UnitAdmin, true, UnitAdmin, None),
            Err(UserChangeRefusal::OwnAccount)
        );
        assert_eq!(
            check_user_change(UnitAdmin, false, Inspector, Some(Supervisor)),
            Ok(())
        );
        assert_eq!(
            check_user_change(UnitAdmin, false, Inspector, Some(UnitAdmin)),
            Ok(())
        );
        assert_eq!(
            check_user_change(UnitAdmin, false, Inspector, Some(Admin)),
            Err(UserChangeRefusal::RoleTooHigh)
        );
        assert_eq!(
            check_user_change(UnitAdmin, false, Admin, None),
            Err(UserChangeRefusal::RoleTooHigh)
        );
        assert_eq!(
            check_user_change(Admin, false, Admin, Some(Inspector)),
            Ok(())
        );
    }
}
