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
