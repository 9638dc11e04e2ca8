//! The authorization policy: one table of which role may do which action, and one rule for where.
//!
//! - Where: an object in the caller's unit subtree (own unit or below), or a global object, is
//!   visible; anything else does not exist for the caller and answers 404, whatever the action.
//! - What: a visible object acted on by a role the table does not grant answers 403.
//! - How far: each action has a [`Reach`]. Most reach the caller's whole subtree (a city bureau's
//!   supervisor reviews a county's inspections, its unit admin keeps the county's ledger, its
//!   inspectors spot-check county sites). Reporting an order handled and asking for more time are
//!   the responsible unit's own answers, so they reach the caller's own unit only: a bureau-level
//!   user sees a county's order but does not answer for the county (403). Changing global objects
//!   (publishing checklist templates) reaches only from a root unit: a county's admin sees the
//!   city's templates but cannot publish one every county's officers would receive (403).
//!
//! The HTTP handlers consult [`decide`] for every request that names an object, with the relation
//! computed from the database, never from the token alone.

use serde::Serialize;

use crate::unit::Relation;
use crate::user::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    ReadUnit,
    ReadCampaign,
    /// Create and edit campaigns (their period, tasks, responsible units, weights and rules).
    ManageCampaign,
    ReadTemplate,
    PublishTemplate,
    ReadSubject,
    CreateSubject,
    UpdateSubject,
    RegisterClient,
    /// Push and pull through the sync protocol.
    Sync,
    /// `inspection.submit` / `inspection.amend` / `draft.*`.
    SubmitInspection,
    /// `subject.propose`.
    ProposeSubject,
    /// `incident.report`.
    ReportIncident,
    /// See other officers' inspections and their evidence (photos) in the subtree. An author always
    /// sees their own inspections, whatever the role: see [`may_read_inspection`].
    ReadInspection,
    /// Review inspections, open rectification orders, decide on extension and deferral requests.
    Supervise,
    /// Report an order of one's unit handled; ask for an extension or a deferral.
    HandleRectification,
    /// Declare a pollution alert for units of the subtree.
    DeclareAlert,
    /// Read the monthly assessment and its bulletin. What of them is visible follows the
    /// circulation rule ([`official_figures_circulate`]).
    ReadAssessment,
    /// Manage the users of the subtree: list them, disable and enable them, change their role
    /// (within `user::check_user_change`) and unit, list and revoke their app installs (anyone may
    /// do that for their own).
    ManageUsers,
    /// Compute the month's provisional figures now, rather than wait for the night's rollup.
    ComputeAssessment,
    /// Register and end the webhooks other systems hear of the deployment's events by, and read
    /// their deliveries: the whole deployment's events, so from the root only.
    ManageWebhooks,
}

impl Action {
    pub const ALL: [Action; 21] = [
        Action::ReadUnit,
        Action::ReadCampaign,
        Action::ManageCampaign,
        Action::ReadTemplate,
        Action::PublishTemplate,
        Action::ReadSubject,
        Action::CreateSubject,
        Action::UpdateSubject,
        Action::RegisterClient,
        Action::Sync,
        Action::SubmitInspection,
        Action::ProposeSubject,
        Action::ReportIncident,
        Action::ReadInspection,
        Action::Supervise,
        Action::HandleRectification,
        Action::DeclareAlert,
        Action::ReadAssessment,
        Action::ManageUsers,
        Action::ComputeAssessment,
        Action::ManageWebhooks,
    ];
}

/// The circulation rule of the monthly figures. Official figures (a published revision and its
/// bulletin, 考评通报) are circulated to every unit (通报全市): whoever may read the assessment sees
/// every unit's row, and the overdue and rework lists, which name the subject, the unit and the
/// item wherever they are (the bulletin names them: 点名通报). Provisional figures are working
/// figures: each reader sees the units of their own subtree only, and no bulletin is made of them.
pub fn official_figures_circulate(official: bool) -> bool {
    official
}

/// How far from the caller's unit an action reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// Objects of the caller's unit and every unit below it (and global objects, for reads).
    Subtree,
    /// Objects of the caller's own unit only; those of units below are visible, not to act on.
    OwnUnit,
    /// Global objects, changed only by a user of a root unit.
    Root,
}

impl Action {
    /// How far the action reaches (see the module's documentation).
    pub fn reach(self) -> Reach {
        match self {
            Action::HandleRectification => Reach::OwnUnit,
            Action::PublishTemplate | Action::ManageCampaign | Action::ManageWebhooks => {
                Reach::Root
            }
            _ => Reach::Subtree,
        }
    }
}

/// The grants. Reads are open to every role within its subtree; reference data is written by
/// admins (everything) and unit admins (subjects of their subtree). Officers change subjects only
/// through proposals in the sync protocol, which a unit admin accepts.
const GRANTS: &[(Role, &[Action])] = {
    use Action::*;
    // Officers: inspect on site, and handle their unit's rectification orders.
    const INSPECTOR: [Action; 10] = [
        ReadUnit,
        ReadCampaign,
        ReadTemplate,
        ReadSubject,
        RegisterClient,
        Sync,
        SubmitInspection,
        ProposeSubject,
        ReportIncident,
        HandleRectification,
    ];
    // Supervisors and assessors also read the inspections (and evidence) of their subtree, review
    // them and run rectification.
    const OVERSIGHT: [Action; 13] = [
        ReadUnit,
        ReadCampaign,
        ReadTemplate,
        ReadSubject,
        RegisterClient,
        Sync,
        SubmitInspection,
        ProposeSubject,
        ReportIncident,
        ReadInspection,
        Supervise,
        HandleRectification,
        ReadAssessment,
    ];
    const ASSESSOR: [Action; 14] = [
        ReadUnit,
        ReadCampaign,
        ReadTemplate,
        ReadSubject,
        RegisterClient,
        Sync,
        SubmitInspection,
        ProposeSubject,
        ReportIncident,
        ReadInspection,
        Supervise,
        HandleRectification,
        ReadAssessment,
        ComputeAssessment,
    ];
    &[
        (Role::Inspector, &INSPECTOR),
        (Role::Supervisor, &OVERSIGHT),
        // Assessors also compute the month's provisional figures on demand.
        (Role::Assessor, &ASSESSOR),
        // Viewers read everything of their subtree, inspections included, and change nothing.
        (
            Role::Viewer,
            &[
                ReadUnit,
                ReadCampaign,
                ReadTemplate,
                ReadSubject,
                RegisterClient,
                Sync,
                ReadInspection,
                ReadAssessment,
            ],
        ),
        (
            Role::UnitAdmin,
            &[
                ReadUnit,
                ReadCampaign,
                ReadTemplate,
                ReadSubject,
                RegisterClient,
                Sync,
                CreateSubject,
                UpdateSubject,
                HandleRectification,
                ManageUsers,
            ],
        ),
        (
            Role::Admin,
            &[
                ReadUnit,
                ReadCampaign,
                ReadTemplate,
                ReadSubject,
                RegisterClient,
                Sync,
                CreateSubject,
                UpdateSubject,
                PublishTemplate,
                ManageCampaign,
                SubmitInspection,
                ProposeSubject,
                ReportIncident,
                ReadInspection,
                Supervise,
                HandleRectification,
                DeclareAlert,
                ReadAssessment,
                ManageUsers,
                ComputeAssessment,
                ManageWebhooks,
            ],
        ),
    ]
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    /// Visible, but the role may not do this: 403.
    Forbidden,
    /// Outside the caller's subtree: 404, as if it did not exist.
    NotFound,
}

/// Whether the table grants `action` to `role`, wherever.
pub fn grants(role: Role, action: Action) -> bool {
    GRANTS
        .iter()
        .any(|(r, actions)| *r == role && actions.contains(&action))
}

/// The decision for `role` doing `action` on an object whose unit stands in `relation` to the
/// caller's unit.
pub fn decide(role: Role, action: Action, relation: Relation) -> Decision {
    if !relation.in_subtree() {
        return Decision::NotFound;
    }
    let within_reach = match action.reach() {
        Reach::Subtree => true,
        Reach::OwnUnit => matches!(relation, Relation::Own),
        Reach::Root => matches!(relation, Relation::GlobalFromRoot),
    };
    if within_reach && grants(role, action) {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

/// Whether a user may see an inspection (and its photos): its author always; others when their
/// role reads inspections and the inspection's unit is in their subtree. Anything else is 404.
pub fn may_read_inspection(role: Role, is_author: bool, relation: Relation) -> bool {
    is_author || decide(role, Action::ReadInspection, relation) == Decision::Allow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_a_row_in_the_table() {
        for role in Role::ALL {
            assert!(
                GRANTS.iter().any(|(r, _)| *r == role),
                "{role:?} has no row"
            );
        }
    }

    #[test]
    fn nothing_outside_the_subtree_is_visible_to_anyone() {
        for role in Role::ALL {
            for action in Action::ALL {
                for rel in [Relation::Ancestor, Relation::Unrelated] {
                    assert_eq!(decide(role, action, rel), Decision::NotFound);
                }
            }
        }
    }

    #[test]
    fn only_admins_publish_templates_and_only_admins_and_unit_admins_write_subjects() {
        let writers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| grants(*r, Action::UpdateSubject))
            .collect();
        assert_eq!(writers, vec![Role::UnitAdmin, Role::Admin]);
        let publishers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| grants(*r, Action::PublishTemplate))
            .collect();
        assert_eq!(publishers, vec![Role::Admin]);
        assert_eq!(
            decide(Role::Viewer, Action::UpdateSubject, Relation::Own),
            Decision::Forbidden
        );
    }

    #[test]
    fn handling_reaches_the_own_unit_and_publishing_only_from_the_root() {
        for role in [Role::Inspector, Role::UnitAdmin, Role::Admin] {
            assert_eq!(
                decide(role, Action::HandleRectification, Relation::Own),
                Decision::Allow
            );
            assert_eq!(
                decide(role, Action::HandleRectification, Relation::Descendant),
                Decision::Forbidden
            );
        }
        assert_eq!(
            decide(
                Role::Admin,
                Action::PublishTemplate,
                Relation::GlobalFromRoot
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(Role::Admin, Action::PublishTemplate, Relation::Global),
            Decision::Forbidden
        );
        // Supervision and the ledger reach the whole subtree.
        for action in [
            Action::Supervise,
            Action::UpdateSubject,
            Action::SubmitInspection,
        ] {
            assert_eq!(
                decide(Role::Admin, action, Relation::Descendant),
                Decision::Allow
            );
        }
    }

    #[test]
    fn officers_see_only_their_own_inspections_and_oversight_sees_the_subtree() {
        assert!(may_read_inspection(Role::Inspector, true, Relation::Own));
        assert!(!may_read_inspection(Role::Inspector, false, Relation::Own));
        assert!(!may_read_inspection(Role::UnitAdmin, false, Relation::Own));
        for role in [Role::Supervisor, Role::Assessor, Role::Viewer, Role::Admin] {
            assert!(may_read_inspection(role, false, Relation::Descendant));
            assert!(!may_read_inspection(role, false, Relation::Unrelated));
            assert!(!may_read_inspection(role, false, Relation::Ancestor));
        }
    }
}
