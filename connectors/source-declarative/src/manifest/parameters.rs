//! Types and `$parameters`, propagated down the resolved manifest as airbyte-cdk's
//! `ManifestComponentTransformer` does, so a manifest reads the same values under intake:
//! - a mapping without `type` gets the default type of the field it sits in
//!   (`SimpleRetriever.requester` is an `HttpRequester`; see [`default_type`]);
//! - a component's `$parameters` are its parent's with its own laid over them, and each one
//!   becomes a field of the component unless the component sets that field to something
//!   truthy (in Python's sense: an empty string or list, `0`, `false` and `null` are replaced);
//! - a parameter named like the field being descended into is not passed into it (it would
//!   loop), and is passed on to the fields after it only when truthy (the CDK's behaviour);
//! - JSON schemas (`type: object`, or a list of types) are not components: left alone;
//! - a mapping without a type is descended into only for the typed mappings it holds.
//!
//! Invariant: the result is a new tree; every component keeps its merged parameters under
//! `$parameters`, for `{{ parameters[...] }}`.

use serde_json::{Map, Value};

/// The manifest, every component typed and parameterised.
pub(crate) fn propagate(manifest: &Value) -> Value {
    match manifest {
        Value::Object(map) => Value::Object(component("", map, &Map::new())),
        other => other.clone(),
    }
}

/// The type a mapping without `type` has in `Parent.field` (the CDK's `DEFAULT_MODEL_TYPES`;
/// custom components, named by `class_name`, in [`default_custom_type`]).
pub(crate) fn default_type(identifier: &str) -> Option<&'static str> {
    Some(match identifier {
        "CompositeErrorHandler.error_handlers" => "DefaultErrorHandler",
        "CursorPagination.decoder" => "JsonDecoder",
        "DatetimeBasedCursor.end_datetime" => "MinMaxDatetime",
        "DatetimeBasedCursor.end_time_option" => "RequestOption",
        "DatetimeBasedCursor.start_datetime" => "MinMaxDatetime",
        "DatetimeBasedCursor.start_time_option" => "RequestOption",
        "DeclarativeSource.check" => "CheckStream",
        "DeclarativeSource.spec" => "Spec",
        "DeclarativeSource.streams" => "DeclarativeStream",
        "DeclarativeStream.retriever" => "SimpleRetriever",
        "DeclarativeStream.schema_loader" => "JsonFileSchemaLoader",
        "DynamicDeclarativeStream.stream_template" => "DeclarativeStream",
        "DynamicDeclarativeStream.components_resolver" => "ConfigComponentResolver",
        "HttpComponentsResolver.retriever" => "SimpleRetriever",
        "HttpComponentsResolver.components_mapping" => "ComponentMappingDefinition",
        "ConfigComponentsResolver.stream_config" => "StreamConfig",
        "ConfigComponentsResolver.components_mapping" => "ComponentMappingDefinition",
        "DefaultErrorHandler.response_filters" => "HttpResponseFilter",
        "DefaultPaginator.decoder" => "JsonDecoder",
        "DefaultPaginator.page_size_option" => "RequestOption",
        "DpathExtractor.decoder" => "JsonDecoder",
        "DpathExtractor.record_expander" => "RecordExpander",
        "HttpRequester.error_handler" => "DefaultErrorHandler",
        "ListPartitionRouter.request_option" => "RequestOption",
        "ParentStreamConfig.request_option" => "RequestOption",
        "ParentStreamConfig.stream" => "DeclarativeStream",
        "RecordExpander.parent_fields" => "ParentFieldPath",
        "RecordSelector.extractor" => "DpathExtractor",
        "RecordSelector.record_filter" => "RecordFilter",
        "SimpleRetriever.paginator" => "NoPagination",
        "SimpleRetriever.record_selector" => "RecordSelector",
        "SimpleRetriever.requester" => "HttpRequester",
        "SubstreamPartitionRouter.parent_stream_configs" => "ParentStreamConfig",
        "AddFields.fields" => "AddedFieldDefinition",
        "CustomPartitionRouter.parent_stream_configs" => "ParentStreamConfig",
        "DynamicSchemaLoader.retriever" => "SimpleRetriever",
        "SchemaTypeIdentifier.types_map" => "TypesMap",
        _ => return None,
    })
}

/// The type of an untyped mapping with a `class_name` in `Parent.field`.
fn default_custom_type(identifier: &str) -> Option<&'static str> {
    Some(match identifier {
        "CompositeErrorHandler.backoff_strategies" => "CustomBackoffStrategy",
        "DeclarativeStream.retriever" => "CustomRetriever",
        "DeclarativeStream.transformations" => "CustomTransformation",
        "DefaultErrorHandler.backoff_strategies" => "CustomBackoffStrategy",
        "DefaultPaginator.pagination_strategy" => "CustomPaginationStrategy",
        "HttpRequester.authenticator" => "CustomAuthenticator",
        "HttpRequester.error_handler" => "CustomErrorHandler",
        "RecordSelector.extractor" => "CustomRecordExtractor",
        "SimpleRetriever.partition_router" => "CustomPartitionRouter",
        _ => return None,
    })
}

/// Python truthiness, which decides whether a component's own field beats a parameter.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn component(
    identifier: &str,
    node: &Map<String, Value>,
    parent: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = node.clone();
    if !out.contains_key("type") {
        let found = if out.contains_key("class_name") {
            default_custom_type(identifier)
        } else {
            default_type(identifier)
        };
        if let Some(t) = found {
            out.insert("type".into(), Value::String(t.into()));
        }
    }
    let mut params = parent.clone();
    if let Some(Value::Object(own)) = out.remove("$parameters") {
        params.extend(own);
    }
    if is_json_schema(&out) {
        return out;
    }
    if !out.contains_key("type") {
        // Not a component: only the typed mappings inside it are.
        let keys: Vec<String> = out.keys().cloned().collect();
        for k in keys {
            if let Some(Value::Object(inner)) = out.get(&k)
                && inner.get("type").is_some_and(truthy)
            {
                let done = component(identifier, inner, &params);
                out.insert(k, Value::Object(done));
            }
        }
        return out;
    }
    for (k, v) in &params {
        if !out.get(k).is_some_and(truthy) {
            out.insert(k.clone(), v.clone());
        }
    }
    let kind = out.get("type").map(type_name).unwrap_or_default();
    let keys: Vec<String> = out.keys().cloned().collect();
    for field in keys {
        let is_container = matches!(out.get(&field), Some(Value::Object(_) | Value::Array(_)));
        if !is_container {
            continue;
        }
        let excluded = params.remove(&field);
        let child_id = format!("{kind}.{field}");
        match out.get_mut(&field) {
            Some(Value::Object(inner)) => {
                *inner = component(&child_id, inner, &params);
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Value::Object(inner) = item {
                        *inner = component(&child_id, inner, &params);
                    }
                }
            }
            _ => {}
        }
        if let Some(p) = excluded.filter(truthy) {
            params.insert(field, p);
        }
    }
    if !params.is_empty() {
        out.insert("$parameters".into(), Value::Object(params));
    }
    out
}

fn type_name(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_json_schema(node: &Map<String, Value>) -> bool {
    matches!(node.get("type"), Some(Value::String(t)) if t == "object")
        || matches!(node.get("type"), Some(Value::Array(_) | Value::Object(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_are_inferred_from_the_field_and_parameters_become_fields() {
        let m = json!({
            "type": "DeclarativeSource",
            "streams": [{
                "type": "DeclarativeStream",
                "$parameters": {"name": "automations", "path": "automations", "data_field": "automations"},
                "retriever": {
                    "requester": {"url_base": "https://x", "path": ""},
                    "record_selector": {"extractor": {"field_path": ["{{ parameters.data_field }}"]}},
                },
            }],
        });
        let r = propagate(&m);
        let stream = &r["streams"][0];
        assert_eq!(stream["name"], "automations");
        assert_eq!(stream["retriever"]["type"], "SimpleRetriever");
        let requester = &stream["retriever"]["requester"];
        assert_eq!(requester["type"], "HttpRequester");
        // An empty own value is replaced by the parameter (Python's `or`).
        assert_eq!(requester["path"], "automations");
        assert_eq!(requester["$parameters"]["data_field"], "automations");
        let extractor = &stream["retriever"]["record_selector"]["extractor"];
        assert_eq!(extractor["type"], "DpathExtractor");
        assert_eq!(extractor["name"], "automations");
    }

    #[test]
    fn own_parameters_override_the_parents_and_schemas_are_left_alone() {
        let m = json!({
            "type": "DeclarativeStream",
            "$parameters": {"name": "outer", "x": 1},
            "retriever": {"type": "SimpleRetriever", "$parameters": {"name": "inner"}},
            "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
        });
        let r = propagate(&m);
        assert_eq!(r["name"], "outer");
        assert_eq!(r["retriever"]["name"], "inner");
        assert_eq!(r["retriever"]["x"], 1);
        assert_eq!(
            r["schema_loader"]["schema"],
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
        assert!(r["schema_loader"]["schema"].get("name").is_none());
    }

    #[test]
    fn a_parameter_named_like_a_field_is_not_passed_into_it() {
        let m = json!({
            "type": "HttpRequester",
            "$parameters": {"authenticator": {"type": "NoAuth"}},
            "authenticator": {"type": "BearerAuthenticator", "api_token": "t"},
        });
        let r = propagate(&m);
        assert_eq!(r["authenticator"]["type"], "BearerAuthenticator");
        assert!(r["authenticator"].get("$parameters").is_none(), "{r}");
    }

    #[test]
    fn custom_components_get_their_custom_type() {
        let m = json!({
            "type": "RecordSelector",
            "extractor": {"class_name": "source_mailchimp.components.Extractor"},
        });
        assert_eq!(propagate(&m)["extractor"]["type"], "CustomRecordExtractor");
    }
}
