//! Calls the handler as the Functions host does: `POST /<FunctionName>` with
//! `{"Data","Metadata"}`, the host's headers, and the reply's queue outputs
//! written to their queues.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use super::Payload;
use crate::host::function_json::{FunctionDef, Output};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::host::{HOST_VERSION_HEADER, HostError, INVOCATION_ID_HEADER, LOCAL_HOST_VERSION};
use crate::platform::queues::{QueueName, Queues};

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no function named {0}")]
    UnknownFunction(String),
    #[error("the handler could not be reached: {0}")]
    Unreachable(String),
    /// The handler answered a non-2xx status: the invocation failed.
    #[error("the function failed with HTTP {status}: {body}")]
    Failed { status: u16, body: String },
    #[error("the handler's reply is not an invocation response: {0}")]
    BadReply(String),
    #[error("writing output {binding}: {message}")]
    Output { binding: String, message: String },
}

pub struct Invoker {
    client: reqwest::Client,
    handler: Url,
    queues: Arc<dyn Queues>,
    queue_outputs: HashMap<String, Vec<(String, QueueName)>>,
}

impl Invoker {
    pub fn new(
        handler: Url,
        queues: Arc<dyn Queues>,
        functions: &[FunctionDef],
    ) -> Result<Self, HostError> {
        let client = reqwest::Client::builder()
            .user_agent(format!("Azure-Functions-Host/{LOCAL_HOST_VERSION}"))
            .pool_max_idle_per_host(64)
            // Forwarded byte for byte: a gzipped answer to a browser that
            // asked for one stays gzipped (reqwest would decode it here, as
            // other crates turn its decoders on).
            .no_gzip()
            .no_deflate()
            .build()
            .map_err(|e| HostError::Config {
                path: "local host".into(),
                message: e.to_string(),
            })?;
        let queue_outputs = functions
            .iter()
            .map(|f| {
                let outs = f.outputs.iter().filter_map(|o| match o {
                    Output::Queue { binding, queue } => Some((binding.clone(), queue.clone())),
                    Output::Http { .. } => None,
                });
                (f.name.clone(), outs.collect())
            })
            .collect();
        Ok(Invoker {
            client,
            handler,
            queues,
            queue_outputs,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn handler(&self) -> &Url {
        &self.handler
    }

    /// Polls `GET /` until the handler answers anything, as the host does.
    pub async fn wait_ready(&self, budget: Duration) -> Result<(), HostError> {
        let started = Instant::now();
        loop {
            match self
                .client
                .get(self.handler.clone())
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() > budget => {
                    return Err(HostError::Config {
                        path: self.handler.to_string(),
                        message: format!("the handler did not start listening: {e}"),
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    pub async fn invoke(
        &self,
        def: &FunctionDef,
        (data, metadata): Payload,
        reason: &str,
    ) -> Result<InvokeResponse, InvokeError> {
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let url = self
            .handler
            .join(&def.name)
            .map_err(|e| InvokeError::Unreachable(e.to_string()))?;
        tracing::info!(function = %def.name, %invocation_id, "Executing 'Functions.{}' (Reason='{reason}')", def.name);
        let started = Instant::now();
        let result = self
            .post(url, &invocation_id, &InvokeRequest { data, metadata })
            .await;
        let result = match result {
            Ok(res) => self.write_outputs(def, &res).await.map(|()| res),
            Err(e) => Err(e),
        };
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(res) => {
                for line in &res.logs {
                    tracing::info!(function = %def.name, %invocation_id, "{line}");
                }
                tracing::info!(function = %def.name, %invocation_id, "Executed 'Functions.{}' (Succeeded, Duration={ms}ms)", def.name);
            }
            Err(e) => {
                tracing::warn!(function = %def.name, %invocation_id, "Executed 'Functions.{}' (Failed, Duration={ms}ms): {e}", def.name)
            }
        }
        result
    }

    async fn post(
        &self,
        url: Url,
        invocation_id: &str,
        request: &InvokeRequest,
    ) -> Result<InvokeResponse, InvokeError> {
        let response = self
            .client
            .post(url)
            .header(INVOCATION_ID_HEADER, invocation_id)
            .header(HOST_VERSION_HEADER, LOCAL_HOST_VERSION)
            .json(request)
            .send()
            .await
            .map_err(|e| InvokeError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| InvokeError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            return Err(InvokeError::Failed {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(500).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| InvokeError::BadReply(e.to_string()))
    }

    /// Queue outputs: an array is one message per element; a string is sent
    /// as is; anything else as its JSON.
    async fn write_outputs(
        &self,
        def: &FunctionDef,
        res: &InvokeResponse,
    ) -> Result<(), InvokeError> {
        let Some(outputs) = self.queue_outputs.get(&def.name) else {
            return Ok(());
        };
        for (binding, queue) in outputs {
            let value = if binding == "$return" {
                Some(&res.return_value)
            } else {
                res.outputs.get(binding)
            };
            let messages: Vec<&Value> = match value {
                None | Some(Value::Null) => continue,
                Some(Value::Array(items)) => items.iter().collect(),
                Some(v) => vec![v],
            };
            for message in messages {
                let text = match message {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.queues
                    .send(queue, &text, None)
                    .await
                    .map_err(|e| InvokeError::Output {
                        binding: binding.clone(),
                        message: e.to_string(),
                    })?;
            }
        }
        Ok(())
    }
}
