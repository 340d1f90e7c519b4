//! Label scopes of tokens on the read path: a token scoped to `tenant="eu-1"` sees only series
//! carrying that label, whatever it asks. [`Scope`] is taken from the request's principal and
//! wraps the storage so that every selector, label-name and label-value lookup gets the scope's
//! equality matchers added; unscoped requests pass through untouched.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use storage::{Matcher, Querier, Queryable, Result, SelectHints, SeriesSet, Timestamp};

use crate::auth::Principal;
use crate::server::errors::ApiError;

/// The matchers every read of this request is restricted to (none: unrestricted).
#[derive(Clone, Debug, Default)]
pub struct Scope(pub Vec<Matcher>);

impl<S: Send + Sync> FromRequestParts<S> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<Self, Self::Rejection> {
        Ok(Scope(parts.extensions.get::<Arc<Principal>>().map(|p| p.query_matchers()).unwrap_or_default()))
    }
}

impl Scope {
    /// `db` seen through the scope.
    pub fn wrap<'a>(&'a self, db: &'a dyn Queryable) -> Scoped<'a> {
        Scoped { db, matchers: &self.0 }
    }
}

/// A [`Queryable`] restricted to a scope.
pub struct Scoped<'a> {
    db: &'a dyn Queryable,
    matchers: &'a [Matcher],
}

impl Queryable for Scoped<'_> {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>> {
        let q = self.db.querier(mint, maxt)?;
        if self.matchers.is_empty() {
            return Ok(q);
        }
        Ok(Box::new(ScopedQuerier { q, matchers: self.matchers.to_vec() }))
    }
}

struct ScopedQuerier {
    q: Box<dyn Querier>,
    matchers: Vec<Matcher>,
}

impl ScopedQuerier {
    fn with(&self, ms: &[Matcher]) -> Vec<Matcher> {
        ms.iter().chain(self.matchers.iter()).cloned().collect()
    }
}

impl Querier for ScopedQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Result<SeriesSet> {
        self.q.select(sorted, hints, &self.with(matchers))
    }
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.q.label_names(&self.with(matchers))
    }
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.q.label_values(name, &self.with(matchers))
    }
}
