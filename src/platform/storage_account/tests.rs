//! Settings parsing and client construction for [`super::StorageAccount`].

use std::collections::HashMap;

use azure_core::credentials::{AccessToken, TokenRequestOptions};

use super::*;

#[derive(Debug)]
struct NoToken;

#[async_trait::async_trait]
impl TokenCredential for NoToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Err(azure_core::error::ErrorKind::Credential.into_error())
    }
}

fn from(
    pairs: &[(&str, &str)],
) -> (
    Result<Option<StorageAccount>, StorageConfigError>,
    Option<String>,
) {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut seen_client_id = None;
    let result = StorageAccount::from_settings(
        |name| map.get(name).cloned(),
        |client_id| {
            seen_client_id = client_id.map(str::to_owned);
            Ok(Arc::new(NoToken) as Arc<dyn TokenCredential>)
        },
    );
    (result, seen_client_id)
}

#[test]
fn nothing_set_means_embedded_defaults() {
    assert!(from(&[]).0.unwrap().is_none());
    assert!(from(&[("AzureWebJobsStorage", " ")]).0.unwrap().is_none());
}

#[test]
fn connection_string_wins_and_signs_with_the_key() {
    let (account, _) = from(&[
        ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
        ("AzureWebJobsStorage__accountName", "ignored"),
    ]);
    let account = account.unwrap().unwrap();
    assert_eq!(account.auth_kind(), "sas");
    assert_eq!(account.blob_endpoint().port(), Some(10000));
    let shown = format!("{account:?}");
    assert!(!shown.contains("Eby8"), "{shown}");
}

#[test]
fn account_name_uses_the_public_cloud_and_passes_the_client_id() {
    let (account, client_id) = from(&[
        ("AzureWebJobsStorage__accountName", "salestimprod"),
        ("AzureWebJobsStorage__clientId", "1234"),
    ]);
    let account = account.unwrap().unwrap();
    assert_eq!(account.auth_kind(), "entra-id");
    assert_eq!(
        account.queue_endpoint().as_str(),
        "https://salestimprod.queue.core.windows.net/"
    );
    assert_eq!(client_id.as_deref(), Some("1234"));
}

#[test]
fn service_uris_must_come_in_pairs_and_be_https() {
    let (account, _) = from(&[
        (
            "AzureWebJobsStorage__blobServiceUri",
            "https://a.blob.core.usgovcloudapi.net/",
        ),
        (
            "AzureWebJobsStorage__queueServiceUri",
            "https://a.queue.core.usgovcloudapi.net",
        ),
    ]);
    let account = account.unwrap().unwrap();
    assert_eq!(
        account.blob_endpoint().as_str(),
        "https://a.blob.core.usgovcloudapi.net/"
    );

    let (only_blob, _) = from(&[("AzureWebJobsStorage__blobServiceUri", "https://a.b/c")]);
    let message = only_blob.unwrap_err().to_string();
    assert!(
        message.contains("AzureWebJobsStorage__queueServiceUri"),
        "{message}"
    );

    let (http, _) = from(&[
        (
            "AzureWebJobsStorage__blobServiceUri",
            "http://127.0.0.1:1/a",
        ),
        (
            "AzureWebJobsStorage__queueServiceUri",
            "https://127.0.0.1:2/a",
        ),
    ]);
    let message = http.unwrap_err().to_string();
    assert!(
        message.contains("blobServiceUri") && message.contains("https"),
        "{message}"
    );

    let (bad_name, _) = from(&[("AzureWebJobsStorage__accountName", "Not_Valid")]);
    assert!(bad_name.unwrap_err().to_string().contains("accountName"));
}

#[test]
fn bad_connection_string_names_the_setting() {
    let (result, _) = from(&[("AzureWebJobsStorage", "AccountName=abc")]);
    let message = result.unwrap_err().to_string();
    assert!(
        message.starts_with("AzureWebJobsStorage connection string:"),
        "{message}"
    );
}

#[test]
fn clients_build_for_both_auth_kinds() {
    let sas = StorageAccount::parse_connection_string("UseDevelopmentStorage=true").unwrap();
    sas.blob_service_client(ClientOptions::default()).unwrap();
    sas.queue_service_client(ClientOptions::default()).unwrap();
    let token = StorageAccount::with_account_name("abc", Arc::new(NoToken)).unwrap();
    token.blob_service_client(ClientOptions::default()).unwrap();
    token
        .queue_service_client(ClientOptions::default())
        .unwrap();
}
