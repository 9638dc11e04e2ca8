//! One module per area of the console. Each handler parses the request, calls one operation of
//! the application layer (or a few reads for one page), and renders a template.

pub mod alerts;
pub mod assessment;
pub mod home;
pub mod ledger;
pub mod login;
pub mod orders;
pub mod password;
pub mod people;
pub mod photos;
pub mod review;
pub mod webhooks;

use crate::web::{PageError, request_lang};
use axum::http::HeaderMap;

/// Any other path under `/console/`: a page that does not exist.
pub async fn not_found(headers: HeaderMap) -> PageError {
    PageError::not_found(request_lang(&headers, None))
}

/// A select option.
#[derive(Debug, Clone)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Opt {
        Opt {
            value: value.into(),
            label: label.into(),
            selected,
        }
    }
}

/// A photo shown as a thumbnail that opens its review rendition.
#[derive(Debug, Clone)]
pub struct Thumb {
    pub thumb_url: String,
    pub review_url: String,
    pub alt: String,
}

impl Thumb {
    pub fn of(id: uuid::Uuid, alt: String) -> Thumb {
        Thumb {
            thumb_url: format!("/console/photos/{id}/thumbnail"),
            review_url: format!("/console/photos/{id}/review"),
            alt,
        }
    }
}
