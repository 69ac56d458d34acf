//! A Cosmos DB client on the SDK's in-memory emulator.
//!
//! The emulator sits behind `azure_data_cosmos_driver`'s internal feature
//! `__internal_in_memory_emulator`, which is not a stable API: this module is
//! the only place that touches it, so an SDK upgrade breaks one file.
//! Each call builds a fresh emulator, so tests never share data.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::Secret;
use azure_data_cosmos::options::{
    EndToEndOperationLatencyPolicy, OperationOptions, Region, ThrottlingRetryOptions,
};
use azure_data_cosmos::{AccountReference, CosmosClient, CosmosRuntimeBuilder, RoutingStrategy};
use azure_data_cosmos_driver::in_memory_emulator::{
    InMemoryEmulatorHttpClient, VirtualAccountConfig, VirtualRegion,
};
use base64::Engine;

const ENDPOINT: &str = "https://eastus.emulator.local";

/// Fail fast: a wiring mistake should fail the test in seconds, not hang.
/// (20 s, not less: a page of the 5,000-document walk, sorted by the
/// emulator in a debug build on a loaded 2-core machine, can take several.)
fn fast_fail(throttle_retries: u32) -> OperationOptions {
    let mut throttling = ThrottlingRetryOptions::default();
    throttling.max_retry_count = Some(throttle_retries);
    throttling.max_retry_wait_time = Some(Duration::from_secs(1));
    let mut options = OperationOptions::default();
    options.end_to_end_latency_policy =
        Some(EndToEndOperationLatencyPolicy::new(Duration::from_secs(20)));
    options.throttling_retry_options = Some(throttling);
    options
}

/// A client on a new, empty in-memory account (one region, East US).
pub async fn emulator_client() -> CosmosClient {
    client_on(account(), fast_fail(1)).await
}

/// The same, but containers created with provisioned throughput answer 429
/// (with `x-ms-retry-after-ms`) once a second's request units are spent;
/// the SDK does not retry them, so the first 429 reaches the caller.
pub async fn throttling_emulator_client() -> CosmosClient {
    client_on(account().with_throttling_enabled(true), fast_fail(0)).await
}

fn account() -> VirtualAccountConfig {
    let endpoint = ENDPOINT.parse().expect("constant URL");
    let region = VirtualRegion::new("East US", endpoint);
    VirtualAccountConfig::new(vec![region]).expect("one region is a valid account")
}

async fn client_on(config: VirtualAccountConfig, options: OperationOptions) -> CosmosClient {
    let emulator = Arc::new(InMemoryEmulatorHttpClient::new(config));
    let runtime = CosmosRuntimeBuilder::from(emulator.runtime_builder())
        .with_default_operation_options(options)
        .build()
        .await
        .expect("emulator runtime builds");
    // The emulator does not check signatures; a fresh random key per run.
    let key = base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    CosmosClient::builder()
        .with_runtime(runtime)
        .build(
            AccountReference::with_authentication_key(
                ENDPOINT.parse().expect("constant URL"),
                Secret::new(key),
            ),
            RoutingStrategy::ProximityTo(Region::EAST_US),
        )
        .await
        .expect("client on the emulator builds")
}

/// The two regions of [`two_region_account`], hub (write region) first.
pub const WEST_EUROPE: &str = "West Europe";
pub const NORTH_EUROPE: &str = "North Europe";

/// An account in West Europe (the write region) and North Europe, as
/// `infra/env/prod.bicepparam` deploys it (one write region, automatic
/// failover), and a client that tries `preferred` in order. The emulator
/// comes back too, so a test can take a region offline (its endpoint stops
/// resolving, as in an outage; offlining the write region fails writes
/// over to the next region, as the service does).
pub async fn two_region_account(
    preferred: Vec<Region>,
) -> (CosmosClient, Arc<InMemoryEmulatorHttpClient>) {
    let config = VirtualAccountConfig::new(vec![
        VirtualRegion::new(
            WEST_EUROPE,
            "https://westeurope.emulator.local".parse().unwrap(),
        ),
        VirtualRegion::new(
            NORTH_EUROPE,
            "https://northeurope.emulator.local".parse().unwrap(),
        ),
    ])
    .expect("a two-region account");
    let emulator = Arc::new(InMemoryEmulatorHttpClient::new(config));
    let runtime = CosmosRuntimeBuilder::from(emulator.runtime_builder())
        .with_default_operation_options(fast_fail(1))
        .build()
        .await
        .expect("emulator runtime builds");
    let key = base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    let client = CosmosClient::builder()
        .with_runtime(runtime)
        .build(
            AccountReference::with_authentication_key(
                "https://westeurope.emulator.local".parse().unwrap(),
                Secret::new(key),
            ),
            RoutingStrategy::PreferredRegions(preferred),
        )
        .await
        .expect("client on the emulator builds");
    (client, emulator)
}
