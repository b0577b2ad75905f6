//! Without the `tower-sessions` feature: no request has a tower-sessions session.

use std::convert::Infallible;
use std::marker::PhantomData;

use http::request::Parts;

use super::{IssuedKey, LinkFn, SessionIdentity};

/// Has no values: there is never a tower-sessions session to use.
pub(crate) struct TowerSession<'a>(Infallible, PhantomData<&'a str>);

impl TowerSession<'_> {
    pub(crate) fn from_parts(_parts: &Parts, _login_data_key: Option<&str>) -> Option<Self> {
        None
    }
}

impl SessionIdentity for TowerSession<'_> {
    async fn existing_key(&self) -> Option<String> {
        match self.0 {}
    }

    async fn key(&self, _secure: bool, _link: LinkFn<'_>) -> Option<IssuedKey> {
        match self.0 {}
    }
}
