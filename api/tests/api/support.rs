//! Test support: an API over a fresh database of either engine, driven through its router, and
//! staff accounts to call it with.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use propledger_api::auth::totp;
use propledger_api::db::{Db, Engine, Query};
use propledger_api::http::limits::RateLimits;
use propledger_api::{Api, ApiConfig};
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

/// Runs each named `async fn(Engine)` once per engine, as `<module>::sqlite::<name>` and
/// `<module>::postgres::<name>`.
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(propledger_api::db::Engine::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(propledger_api::db::Engine::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use both_engines;

/// A cluster this process uses instead of the shared one (the benchmark's durable cluster).
static PG_CLUSTER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Makes fresh databases on the cluster at `admin_url` from now on.
pub(crate) fn use_pg_cluster(admin_url: String) {
    let _ = PG_CLUSTER.set(admin_url);
}

/// A fresh PostgreSQL database: on the cluster set by [`use_pg_cluster`], or on the shared test
/// cluster (or in `PROPLEDGER_TEST_PG_URL`'s server when set).
pub(crate) async fn fresh_pg_database() -> String {
    if let Some(admin_url) = PG_CLUSTER.get() {
        return propledger_testkit::postgres::fresh_database_at(admin_url).await;
    }
    propledger_testkit::TestDatabase::new(propledger_testkit::Engine::Postgres)
        .await
        .url()
        .to_owned()
}

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) bytes: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    /// Asserts a status, showing the body when it differs.
    #[track_caller]
    pub(crate) fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        self
    }

    /// Asserts a problem document of a status and type, naming `field` when given.
    #[track_caller]
    pub(crate) fn problem(&self, status: StatusCode, kind: &str, field: Option<&str>) -> Value {
        self.expect(status);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let p = self.json();
        assert_eq!(p["type"], format!("/problems/{kind}"), "{p}");
        assert_eq!(p["status"], status.as_u16(), "{p}");
        assert!(
            p["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{p}"
        );
        if let Some(field) = field {
            let named = p["errors"]
                .as_array()
                .is_some_and(|errs| errs.iter().any(|e| e["pointer"] == field));
            assert!(named, "expected an error naming {field}: {p}");
        }
        p
    }
}

/// A request being built.
pub(crate) struct Call<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    token: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

impl Call<'_> {
    pub(crate) fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn json(mut self, v: &Value) -> Self {
        self.body = Some(("application/json".to_owned(), v.to_string().into_bytes()));
        self
    }

    pub(crate) fn raw(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), bytes.into()));
        self
    }

    /// A multipart/form-data body of text parts and one file part.
    pub(crate) fn multipart(
        mut self,
        fields: &[(&str, &str)],
        file: Option<(&str, &str, &[u8])>,
    ) -> Self {
        let boundary = "propledger-test-boundary-7f3a";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some((filename, content_type, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.body = Some((format!("multipart/form-data; boundary={boundary}"), body));
        self
    }

    pub(crate) async fn send(self) -> Resp {
        let mut req = Request::builder().method(self.method).uri(self.path);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (n, v) in &self.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let body = match self.body {
            Some((ct, bytes)) => {
                req = req.header("content-type", ct);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let resp = self
            .app
            .router
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            bytes,
        }
    }
}

/// A staff user made for a test, with what they need to sign in.
#[derive(Clone, Debug)]
pub(crate) struct Staff {
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) totp_secret: Vec<u8>,
}

impl Staff {
    /// The code of the current step, offset by `steps`.
    pub(crate) fn code(&self, steps: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        format!(
            "{:06}",
            totp::code_at_step(&self.totp_secret, totp::step_at(now) + steps)
        )
    }
}

/// An API over a fresh database, with its router and an admin key.
pub(crate) struct TestApp {
    pub(crate) api: Api,
    pub(crate) router: axum::Router,
    pub(crate) engine: Engine,
    pub(crate) url: String,
    pub(crate) admin_key: String,
    pub(crate) dir: TempDir,
}

impl TestApp {
    /// With rate limits off.
    pub(crate) async fn new(engine: Engine) -> TestApp {
        Self::with(engine, |c| c.rate_limits = RateLimits::off()).await
    }

    /// With settings changed by `configure`.
    pub(crate) async fn with(engine: Engine, configure: impl FnOnce(&mut ApiConfig)) -> TestApp {
        Self::build(engine, configure, None).await
    }

    /// With settings changed by `configure` and, when given, a chain to act on.
    pub(crate) async fn build(
        engine: Engine,
        configure: impl FnOnce(&mut ApiConfig),
        context: Option<propledger_api::app::ChainContext>,
    ) -> TestApp {
        // The API's log, shown with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("propledger_api=debug")
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match engine {
            Engine::Sqlite => format!("sqlite:{}", dir.path().join("node.db").display()),
            Engine::Postgres => fresh_pg_database().await,
        };
        let db = Db::connect(&url).await.expect("open the database");
        let mut config = ApiConfig::new(dir.path().to_owned());
        configure(&mut config);
        let api = Api::with_chain(db, config, None, context).expect("api");
        let (_, key) = propledger_api::keys::bootstrap(api.db())
            .await
            .expect("bootstrap")
            .expect("a first key on an empty database");
        let router = api.router();
        TestApp {
            api,
            router,
            engine,
            url,
            admin_key: key.expose().to_owned(),
            dir,
        }
    }

    pub(crate) fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            app: self,
            method,
            path: path.to_owned(),
            token: None,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }

    pub(crate) fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }

    pub(crate) fn put(&self, path: &str) -> Call<'_> {
        self.call(Method::PUT, path)
    }

    pub(crate) fn patch(&self, path: &str) -> Call<'_> {
        self.call(Method::PATCH, path)
    }

    pub(crate) fn delete(&self, path: &str) -> Call<'_> {
        self.call(Method::DELETE, path)
    }

    /// Makes a staff user through the API with the admin key.
    pub(crate) async fn staff(&self, username: &str, role: &str) -> Staff {
        let password = format!("correct horse {username} battery");
        let r = self
            .post("/v1/users")
            .token(&self.admin_key)
            .json(&json!({"username": username, "role": role, "password": password}))
            .send()
            .await;
        let body = r.expect(StatusCode::CREATED).json();
        let secret = data_encoding::BASE32_NOPAD
            .decode(
                body["totp"]["secret_base32"]
                    .as_str()
                    .expect("secret")
                    .as_bytes(),
            )
            .expect("base32");
        Staff {
            id: body["user"]["id"].as_str().expect("id").to_owned(),
            username: username.to_owned(),
            password,
            totp_secret: secret,
        }
    }

    /// Signs a staff user in with the code `steps` from now; returns the session token.
    pub(crate) async fn sign_in(&self, staff: &Staff, steps: i64) -> String {
        let r = self
            .post("/v1/auth/sessions")
            .json(&json!({
                "username": staff.username,
                "password": staff.password,
                "totp_code": staff.code(steps),
            }))
            .send()
            .await;
        r.expect(StatusCode::CREATED).json()["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Makes an API key with a role for a service account; returns the key.
    pub(crate) async fn key(&self, role: &str) -> String {
        let r = self
            .post("/v1/api-keys")
            .token(&self.admin_key)
            .json(&json!({"name": format!("{role} key"), "role": role, "service": format!("svc-{role}")}))
            .send()
            .await;
        r.expect(StatusCode::CREATED).json()["secret"]
            .as_str()
            .expect("secret")
            .to_owned()
    }

    /// A count from the database, read directly.
    pub(crate) async fn count(&self, sql: &'static str) -> i64 {
        Query::new(sql)
            .fetch_one(self.api.db().reader())
            .await
            .expect("count")
            .get::<i64>("n")
            .expect("n")
    }
}

/// A property body with the given city and coordinates.
pub(crate) fn property_body(city: &str, lat: f64, lon: f64, price: &str, sqft: i64) -> Value {
    json!({
        "mls_number": "MLS-1001",
        "address": {"line1": "1420 W Wrightwood Ave", "city": city, "region": "IL", "postal_code": "60614", "country": "US"},
        "property_type": "single_family",
        "status": "prospect",
        "list_price": {"amount": price, "currency": "USD"},
        "square_feet": sqft,
        "bedrooms": 3,
        "bathrooms": 2.5,
        "year_built": 1978,
        "lot_size_sqft": 3125,
        "location": {"latitude": lat, "longitude": lon},
        "market_data": {"median_rent": "2400.00", "comps": 4}
    })
}

/// The text of a PDF, as poppler's `pdftotext` reads it (layout kept).
pub(crate) fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils; scripts/install-test-tools installs it)");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 text")
}
