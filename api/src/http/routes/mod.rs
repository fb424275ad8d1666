//! The handlers, one module per resource. Each parses and authorizes its request, then calls
//! the module that owns the rule; none holds SQL of its own.

pub mod agent;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod books;
pub mod bulk;
pub mod business_documents;
pub mod chain_audit;
pub mod compliance;
pub mod deals;
pub mod distributions;
pub mod documents;
pub mod investors;
pub mod keys;
pub mod me;
pub mod network;
pub mod offerings;
pub mod properties;
pub mod rehab;
pub mod sales;
pub mod statements;
pub mod system;
pub mod tax;
pub mod tokenization;
pub mod trading;
pub mod transactions;
pub mod users;
pub mod valuations;
pub mod waterfalls;

/// Declares a page of a resource for the OpenAPI document (a concrete type per resource keeps
/// the schema names readable).
macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// The items, in the list's order.
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }

        impl From<$crate::types::Page<$item>> for $name {
            fn from(p: $crate::types::Page<$item>) -> Self {
                $name {
                    items: p.items,
                    next_cursor: p.next_cursor,
                }
            }
        }
    };
}
pub(crate) use page_type;
