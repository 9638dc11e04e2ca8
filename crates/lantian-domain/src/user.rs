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

/// A one-time password (a new account's, or a reset's) lapses this long after it was set.
pub const ONE_TIME_PASSWORD_HOURS: i64 = 72;

/// The letters one-time passwords are made of: no `0`/`o`, `1`/`l`/`i`, read aloud or copied from a
/// screen without doubt.
const ONE_TIME_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A one-time password from 12 random bytes: 12 letters of `ONE_TIME_ALPHABET` in three groups
/// of four (`k7hq-3mza-x9pe`), about 59 bits.
pub fn one_time_password(random: [u8; 12]) -> String {
    let mut out = String::with_capacity(14);
    for (i, b) in random.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 256 is not a multiple of 31: the first letters are a little likelier (9 of 256 values
        // wrap). Fine for a password that lapses in days and must be changed at first use.
        out.push(char::from(
            ONE_TIME_ALPHABET[*b as usize % ONE_TIME_ALPHABET.len()],
        ));
    }
    out
}

/// Where an account's password stands for a sign-in with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    /// Chosen by the user: it signs in.
    Chosen,
    /// A one-time password an administrator set: it signs in nowhere, but it may be changed.
    OneTime,
    /// A one-time password past its time: it does nothing; an administrator sets another.
    Lapsed,
}

/// The state of a password set `one_time` (with its lapse time) or chosen, at `now`.
pub fn password_state(
    one_time: bool,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> PasswordState {
    match (one_time, expires_at) {
        (false, _) => PasswordState::Chosen,
        (true, Some(t)) if now >= t => PasswordState::Lapsed,
        (true, _) => PasswordState::OneTime,
    }
}

/// The rule of a password a user chooses: long enough, and not the one it replaces.
pub fn check_new_password(new: &str, current: &str) -> Result<(), crate::ValidationError> {
    if new.chars().count() < PASSWORD_MIN_CHARS {
        return Err(crate::ValidationError::new(
            "password_too_short",
            "new_password",
            format!("the password must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    if new == current {
        return Err(crate::ValidationError::new(
            "password_unchanged",
            "new_password",
            "the new password must differ from the current one",
        ));
    }
    Ok(())
}

/// A user's move to another unit: when the server received it, and the unit path they left.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub at: chrono::DateTime<chrono::Utc>,
    pub left: Vec<String>,
}

/// The unit whose rights work is judged by, for an officer who may have been moved (`moves`
/// oldest first, `now` their unit today), and whether it is flagged `after_move`: work that took
/// place before a move (by its occurrence time, `occurred`, not later than the server's receipt
/// of the move) is judged by the unit the officer belonged to then, and flagged; anything later
/// by the unit they have now.
pub fn unit_for_work<'a>(
    now: &'a [String],
    moves: &'a [Move],
    occurred: chrono::DateTime<chrono::Utc>,
) -> (&'a [String], bool) {
    match moves.iter().find(|m| m.at > occurred) {
        Some(m) => (&m.left, true),
        None => (now, false),
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn a_one_time_password_is_twelve_plain_letters_in_three_groups() {
        let p = one_time_password([0, 30, 31, 255, 7, 8, 9, 10, 11, 12, 13, 14]);
        assert_eq!(p.len(), 14);
        assert_eq!(p.matches('-').count(), 2);
        assert!(
            p.chars()
                .all(|c| c == '-' || ONE_TIME_ALPHABET.contains(&(c as u8)))
        );
        assert!(!p.contains(['0', 'o', '1', 'l', 'i']));
        assert!(check_new_account("someone", &p).is_ok(), "long enough");
    }

    #[test]
    fn a_one_time_password_signs_in_nowhere_and_lapses() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 3, 9, 0, 0)
            .single()
            .expect("time");
        assert_eq!(password_state(false, None, now), PasswordState::Chosen);
        let later = now + Duration::hours(ONE_TIME_PASSWORD_HOURS);
        assert_eq!(
            password_state(true, Some(later), now),
            PasswordState::OneTime
        );
        assert_eq!(
            password_state(true, Some(later), later),
            PasswordState::Lapsed
        );
    }

    #[test]
    fn a_chosen_password_is_long_enough_and_new() {
        assert!(check_new_password("a-new-long-one", "k7hq-3mza-x9pe").is_ok());
        let e = check_new_password("short", "k7hq-3mza-x9pe").expect_err("short");
        assert_eq!(e.code, "password_too_short");
        let e = check_new_password("k7hq-3mza-x9pe", "k7hq-3mza-x9pe").expect_err("same");
        assert_eq!(e.code, "password_unchanged");
    }

    #[test]
    fn work_done_before_a_move_is_judged_by_the_unit_of_then() {
        let path = |c: &str| vec!["lcucb".to_owned(), c.to_owned()];
        let t = Utc
            .with_ymd_and_hms(2026, 12, 3, 9, 0, 0)
            .single()
            .expect("time");
        // Yanggu, then Linqing from 09:00, then Gaotang from 12:00.
        let moves = vec![
            Move {
                at: t,
                left: path("yanggu"),
            },
            Move {
                at: t + Duration::hours(3),
                left: path("linqing"),
            },
        ];
        let now = path("gaotang");
        let before = t - Duration::minutes(1);
        assert_eq!(
            unit_for_work(&now, &moves, before),
            (moves[0].left.as_slice(), true)
        );
        let between = t + Duration::hours(1);
        assert_eq!(
            unit_for_work(&now, &moves, between),
            (moves[1].left.as_slice(), true)
        );
        let after = t + Duration::hours(4);
        assert_eq!(unit_for_work(&now, &moves, after), (now.as_slice(), false));
        assert_eq!(unit_for_work(&now, &[], before), (now.as_slice(), false));
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
