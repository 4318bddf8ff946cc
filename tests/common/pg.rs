//! The PostgreSQL server that tests make their databases on. Shared by the test crates
//! (`#[path]`-included), so that every one creates them the same way.

/// The server's admin URL: `PG_TEST_URL`, by default the local trust-auth server.
pub fn pg_admin_url() -> String {
    std::env::var("PG_TEST_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates an empty database with a random `chatdesk_t_` name (`scripts/test` drops those
/// left by earlier runs) and returns its URL.
pub async fn fresh_pg_database() -> String {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL at PG_TEST_URL (default 127.0.0.1:5432) must be running");
    let name = format!("chatdesk_t_{:016x}", rand::random::<u64>());
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("database URL with a path");
    format!("{base}/{name}")
}
