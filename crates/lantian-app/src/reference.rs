//! Reference data: the organisation (units, departments), campaigns, checklist templates.

use lantian_domain::campaign::Campaign;
use lantian_domain::checklist::{ChecklistTemplate, TemplateDraft};
use lantian_domain::policy::Action;
use lantian_domain::unit::{Department, Unit};
use lantian_store::sync::Group;
use lantian_store::{audit, org, templates};

use crate::{Actor, App, AppError};

impl App {
    /// The caller's unit and everything below it.
    pub async fn units(&self, actor: &Actor) -> Result<Vec<Unit>, AppError> {
        actor.may(Action::ReadUnit, Some(&actor.unit_path))?;
        let path = actor.unit_path.clone();
        Ok(self
            .store()
            .read(move |c| org::units_in_subtree(c, &path))
            .await?)
    }

    /// Unit `code`, if it lies in the caller's subtree.
    pub async fn unit(&self, actor: &Actor, code: String) -> Result<Unit, AppError> {
        let unit = self
            .store()
            .read(move |c| org::unit_by_code(c, &code))
            .await?
            .ok_or_else(AppError::not_found)?;
        actor.may(Action::ReadUnit, Some(&unit.unit.path))?;
        Ok(unit.unit)
    }

    /// The supervising departments (global).
    pub async fn departments(&self, actor: &Actor) -> Result<Vec<Department>, AppError> {
        actor.may(Action::ReadCampaign, None)?;
        Ok(self.store().read(org::departments).await?)
    }

    pub async fn campaigns(&self, actor: &Actor) -> Result<Vec<Campaign>, AppError> {
        actor.may(Action::ReadCampaign, None)?;
        Ok(self.store().read(org::campaigns).await?)
    }

    pub async fn campaign(&self, actor: &Actor, code: String) -> Result<Campaign, AppError> {
        actor.may(Action::ReadCampaign, None)?;
        self.store()
            .read(move |c| org::campaign(c, &code))
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// The latest version of every checklist template.
    pub async fn templates(&self, actor: &Actor) -> Result<Vec<ChecklistTemplate>, AppError> {
        actor.may(Action::ReadTemplate, None)?;
        Ok(self.store().read(templates::latest).await?)
    }

    /// Every version of template `code`, oldest first; `not_found` when there is none.
    pub async fn template_versions(
        &self,
        actor: &Actor,
        code: String,
    ) -> Result<Vec<ChecklistTemplate>, AppError> {
        actor.may(Action::ReadTemplate, None)?;
        let items = self
            .store()
            .read(move |c| templates::versions(c, &code))
            .await?;
        if items.is_empty() {
            return Err(AppError::not_found());
        }
        Ok(items)
    }

    pub async fn template_version(
        &self,
        actor: &Actor,
        code: String,
        version: u32,
    ) -> Result<ChecklistTemplate, AppError> {
        actor.may(Action::ReadTemplate, None)?;
        self.store()
            .read(move |c| templates::get(c, &code, version))
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// Publishes the next, immutable version of template `code`; it syncs to every phone.
    pub async fn publish_template(
        &self,
        actor: &Actor,
        code: String,
        draft: TemplateDraft,
    ) -> Result<ChecklistTemplate, AppError> {
        actor.may(Action::PublishTemplate, None)?;
        draft.validate()?;
        let (who, user_id) = (actor.uuid.to_string(), actor.id);
        Ok(self
            .store()
            .write(move |c| {
                let t = templates::publish(c, Group::new(), &code, &draft, Some(user_id))?;
                audit::record(
                    c,
                    &who,
                    "template.publish",
                    "template",
                    &format!("{}@{}", t.code, t.version),
                    None,
                    Some(t.content_hash.clone()),
                )?;
                Ok(t)
            })
            .await?)
    }
}

impl App {
    /// Creates a campaign (root admins): its period may not overlap another's, every department
    /// and unit it names must exist. It syncs to every phone and is audited.
    pub async fn create_campaign(
        &self,
        actor: &Actor,
        campaign: Campaign,
    ) -> Result<Campaign, AppError> {
        actor.may(Action::ManageCampaign, None)?;
        create_campaign(self.store(), actor.uuid.to_string(), campaign).await
    }

    /// Replaces campaign `code` as a whole (root admins), by the same rules as creating it.
    pub async fn update_campaign(
        &self,
        actor: &Actor,
        code: String,
        campaign: Campaign,
    ) -> Result<Campaign, AppError> {
        actor.may(Action::ManageCampaign, None)?;
        update_campaign(self.store(), actor.uuid.to_string(), code, campaign).await
    }
}

/// Creates a campaign, audited under `who` (the API after its policy check, or the operator).
pub(crate) async fn create_campaign(
    store: &lantian_store::Store,
    who: String,
    campaign: Campaign,
) -> Result<Campaign, AppError> {
    campaign.validate()?;
    Ok(store
        .write(move |c| {
            if org::campaign(c, &campaign.code)?.is_some() {
                return Err(lantian_store::StoreError::Conflict("campaign_exists"));
            }
            campaign.check_overlap(&org::campaigns(c)?)?;
            org::insert_campaign(c, Group::new(), &campaign)?;
            let stored =
                org::campaign(c, &campaign.code)?.ok_or(lantian_store::StoreError::NotFound)?;
            audit::record(
                c,
                &who,
                "campaign.create",
                "campaign",
                &stored.code,
                None,
                Some(audit::object_hash(&stored)?),
            )?;
            Ok(stored)
        })
        .await?)
}

/// Replaces campaign `code` as a whole, by the same rules as creating it, audited under `who`
/// with the hashes of before and after. Months already published keep their revisions; the next
/// official run of a month publishes a new revision if a figure changed.
pub(crate) async fn update_campaign(
    store: &lantian_store::Store,
    who: String,
    code: String,
    campaign: Campaign,
) -> Result<Campaign, AppError> {
    if campaign.code != code {
        return Err(AppError::new("validation_failed")
            .field("code")
            .detail("code_mismatch")
            .note("the body's code must be the campaign's code in the path"));
    }
    campaign.validate()?;
    Ok(store
        .write(move |c| {
            let before = org::campaign(c, &code)?.ok_or(lantian_store::StoreError::NotFound)?;
            campaign.check_overlap(&org::campaigns(c)?)?;
            org::update_campaign(c, Group::new(), &campaign)?;
            let after = org::campaign(c, &code)?.ok_or(lantian_store::StoreError::NotFound)?;
            audit::record(
                c,
                &who,
                "campaign.update",
                "campaign",
                &code,
                Some(audit::object_hash(&before)?),
                Some(audit::object_hash(&after)?),
            )?;
            Ok(after)
        })
        .await?)
}
