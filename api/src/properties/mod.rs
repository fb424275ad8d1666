//! Properties: the buildings the platform buys, rehabs, rents and tokenizes. Fields follow the
//! planning schema (MLS number, structured address, type, status, prices, size, location,
//! market data); search by status, type, place, price and size ranges, a radius around a point
//! and a bounding box.

mod geo;
mod model;
mod search;
mod store;

pub use geo::{Location, haversine_m};
pub use model::{
    Address, MAX_MARKET_DATA_BYTES, NewProperty, Property, PropertyId, PropertyStatus,
    PropertyType, PropertyUpdate,
};
pub use search::{BoundingBox, MAX_RADIUS_M, PropertyQuery, SearchRequest};
pub use store::{Hit, PropertyCache, create, get, get_raw, render_page, search, update};
