//! The account a request acts as.

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// A JWT access token in `Authorization: Bearer`.
    AccessToken,
    /// An API token in `X-INFRAHUB-KEY`.
    ApiToken,
}

/// An authenticated account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The `CoreGenericAccount` node id.
    pub id: String,
    /// The account name.
    pub name: String,
    /// How the request authenticated.
    pub method: AuthMethod,
}
