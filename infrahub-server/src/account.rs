//! The account a request acts as.

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// A JWT access token in `Authorization: Bearer`.
    AccessToken,
    /// An API token in `X-INFRAHUB-KEY`.
    ApiToken,
    /// The server itself, running a task's reads (a transform's query for an artifact): no
    /// request carries it, and it holds every permission.
    Internal,
}

impl Account {
    /// The server itself, for reads a task makes on its own behalf.
    pub(crate) fn internal() -> Account {
        Account {
            id: String::new(),
            name: "infrahub-internal".to_owned(),
            method: AuthMethod::Internal,
        }
    }
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
