//! Versioned checklist templates. A template is identified by a code (one per subject kind, or more
//! for special campaigns); each published version is immutable, and an inspection names the exact
//! version it was filled against.

use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::subject::SubjectKind;

/// What a template author submits to publish a new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDraft {
    pub subject_kind: SubjectKind,
    pub title_zh: String,
    pub title_en: String,
    pub items: Vec<ChecklistItem>,
}

/// A published, immutable template version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistTemplate {
    pub code: String,
    pub version: u32,
    pub subject_kind: SubjectKind,
    pub title_zh: String,
    pub title_en: String,
    pub items: Vec<ChecklistItem>,
    pub published_at: chrono::DateTime<chrono::Utc>,
    /// SHA-256 of the canonical JSON of the draft, so a phone can tell two versions apart offline.
    pub content_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    /// Stable within a template code across versions, e.g. `CS1`.
    pub code: String,
    pub label_zh: String,
    pub label_en: String,
    /// Relative weight in the inspection score (N/A items drop out of the denominator).
    pub weight: u32,
    /// A failure makes the whole inspection non-compliant.
    #[serde(default)]
    pub critical: bool,
    pub answer: AnswerKind,
    /// A failed answer must come with at least one photo.
    #[serde(default)]
    pub photo_required_on_fail: bool,
    /// The item applies only when this boolean attribute of the subject is true (CS7: `linear`), or,
    /// with `alert`, only while a pollution alert covers the subject's place (emergency items).
    #[serde(default)]
    pub applies_if: Option<String>,
}

/// How an item is answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnswerKind {
    /// Pass or fail; with `allow_na`, also not applicable.
    PassFail { allow_na: bool },
    /// A measurement judged against a limit, e.g. fume emission in mg/m³ at most 2.0.
    Number {
        limit: f64,
        unit: String,
        comparison: Comparison,
        /// Whether "not measured / not applicable" is an allowed answer.
        #[serde(default)]
        allow_na: bool,
    },
    /// Free text; recorded, not scored.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Passes when the value is at most the limit (emissions).
    AtMost,
    /// Passes when the value is at least the limit.
    AtLeast,
}

impl TemplateDraft {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.title_zh.trim().is_empty() || self.title_en.trim().is_empty() {
            return Err(ValidationError::new(
                "title_required",
                "title",
                "a template needs a Chinese and an English title",
            ));
        }
        if self.items.is_empty() || self.items.len() > 200 {
            return Err(ValidationError::new(
                "items_count_invalid",
                "items",
                "a template has 1 to 200 items",
            ));
        }
        let mut codes = std::collections::BTreeSet::new();
        let mut scored_weight = 0u64;
        for (i, item) in self.items.iter().enumerate() {
            let field = format!("items[{i}]");
            if item.code.is_empty()
                || item.code.len() > 32
                || !item
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(ValidationError::new(
                    "item_code_invalid",
                    field,
                    "item codes are 1 to 32 ASCII letters, digits or _",
                ));
            }
            if !codes.insert(item.code.as_str()) {
                return Err(ValidationError::new(
                    "item_code_duplicate",
                    field,
                    format!("item code {} appears twice", item.code),
                ));
            }
            if item.label_zh.trim().is_empty() || item.label_en.trim().is_empty() {
                return Err(ValidationError::new(
                    "item_label_required",
                    field,
                    "every item needs a Chinese and an English label",
                ));
            }
            match &item.answer {
                AnswerKind::Number { limit, unit, .. } => {
                    if !limit.is_finite() || unit.trim().is_empty() {
                        return Err(ValidationError::new(
                            "item_limit_invalid",
                            field,
                            "a numeric item needs a finite limit and a unit",
                        ));
                    }
                }
                AnswerKind::Text => {
                    if item.critical || item.weight != 0 {
                        return Err(ValidationError::new(
                            "text_item_scored",
                            field,
                            "text items are not scored: weight 0, not critical",
                        ));
                    }
                }
                AnswerKind::PassFail { .. } => {}
            }
            if let Some(attr) = item
                .applies_if
                .as_ref()
                .filter(|a| a.as_str() != crate::inspection::ALERT_CONDITION)
            {
                let known = self
                    .subject_kind
                    .attribute_fields()
                    .iter()
                    .any(|(name, ty)| name == attr && *ty == crate::subject::FieldType::Bool);
                if !known {
                    return Err(ValidationError::new(
                        "item_condition_invalid",
                        field,
                        format!("{attr} is not a yes/no attribute of this subject kind"),
                    ));
                }
            }
            scored_weight += u64::from(item.weight);
        }
        if scored_weight == 0 {
            return Err(ValidationError::new(
                "template_unscored",
                "items",
                "at least one item must carry weight",
            ));
        }
        Ok(())
    }
}

/// A template code is what URLs carry: lowercase ASCII, digits and `_`, 2 to 64 characters.
pub fn valid_template_code(code: &str) -> bool {
    (2..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(code: &str) -> ChecklistItem {
        ChecklistItem {
            code: code.into(),
            label_zh: "围挡".into(),
            label_en: "Hoarding".into(),
            weight: 10,
            critical: false,
            answer: AnswerKind::PassFail { allow_na: false },
            photo_required_on_fail: true,
            applies_if: None,
        }
    }

    fn draft(items: Vec<ChecklistItem>) -> TemplateDraft {
        TemplateDraft {
            subject_kind: SubjectKind::ConstructionSite,
            title_zh: "施工工地".into(),
            title_en: "Construction site".into(),
            items,
        }
    }

    #[test]
    fn duplicate_item_codes_are_refused() {
        let err = draft(vec![item("CS1"), item("CS1")])
            .validate()
            .map_err(|e| e.code);
        assert_eq!(err, Err("item_code_duplicate"));
    }

    #[test]
    fn a_condition_must_name_a_yes_no_attribute_of_the_kind() {
        let mut i = item("CS7");
        i.applies_if = Some("linear".into());
        assert!(draft(vec![i.clone()]).validate().is_ok());
        i.applies_if = Some("builder".into());
        assert_eq!(
            draft(vec![i]).validate().map_err(|e| e.code),
            Err("item_condition_invalid")
        );
    }

    #[test]
    fn numeric_items_need_a_finite_limit() {
        let mut i = item("RE3");
        i.answer = AnswerKind::Number {
            limit: f64::NAN,
            unit: "mg/m³".into(),
            comparison: Comparison::AtMost,
            allow_na: false,
        };
        assert_eq!(
            draft(vec![i]).validate().map_err(|e| e.code),
            Err("item_limit_invalid")
        );
    }
}
