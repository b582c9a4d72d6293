"""Attribute, metric and value names: the one place they are spelled.

Names follow the OpenTelemetry GenAI semantic conventions (v1.41.1 strings). Where the conventions say nothing
(cost, tool and agent metrics) we use the names other tools already read, or our own ``agentmetrics.`` prefix.
"""

from __future__ import annotations

from typing import Final

# Operation names (gen_ai.operation.name).
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EMBEDDINGS: Final = "embeddings"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"

# Well-known provider names (gen_ai.provider.name).
PROVIDER_OPENAI: Final = "openai"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_AZURE_AI_INFERENCE: Final = "azure.ai.inference"  # models served by Azure AI Foundry
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_BEDROCK: Final = "aws.bedrock"
PROVIDER_GEMINI: Final = "gcp.gemini"
PROVIDER_VERTEX_AI: Final = "gcp.vertex_ai"
PROVIDER_GCP_GEN_AI: Final = "gcp.gen_ai"
PROVIDER_MISTRAL: Final = "mistral_ai"
PROVIDER_COHERE: Final = "cohere"
PROVIDER_GROQ: Final = "groq"
PROVIDER_DEEPSEEK: Final = "deepseek"
PROVIDER_X_AI: Final = "x_ai"
PROVIDER_PERPLEXITY: Final = "perplexity"

# Span attributes.
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
SYSTEM: Final = "gen_ai.system"  # same value as provider name; Logfire reads it first
REQUEST_MODEL: Final = "gen_ai.request.model"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
REQUEST_STREAM: Final = "gen_ai.request.stream"
REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
OUTPUT_TYPE: Final = "gen_ai.output.type"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
CLIENT_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"  # Logfire's span name
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
USAGE_COST: Final = "gen_ai.usage.cost"
OPERATION_COST: Final = "operation.cost"  # Logfire's name for the same value
COST_SOURCE: Final = "agentmetrics.cost.source"
ERROR_TYPE: Final = "error.type"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
TOOL_TYPE: Final = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
AGENT_NAME: Final = "gen_ai.agent.name"
AGENT_ID: Final = "gen_ai.agent.id"
AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
TOKEN_TYPE: Final = "gen_ai.token.type"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"
# The ids of the tool calls a model asked for, so a tool span can be joined to the model call that asked for it.
RESPONSE_TOOL_CALL_IDS: Final = "agentmetrics.response.tool_call_ids"
TOOL_TYPE_FUNCTION: Final = "function"
TOOL_TYPE_EXTENSION: Final = "extension"  # tools run by another process (MCP servers)
ERROR_TYPE_TOOL: Final = "tool_error"  # a tool reported failure in its result (MCP isError, LangChain error status)
# Agent-run roll-up, set on the invoke_agent span when the run ends (nested runs count in every enclosing run).
AGENT_MODEL_CALLS: Final = "agentmetrics.agent.model_calls"
AGENT_TOOL_CALLS: Final = "agentmetrics.agent.tool_calls"
AGENT_INPUT_TOKENS: Final = "agentmetrics.agent.input_tokens"
AGENT_OUTPUT_TOKENS: Final = "agentmetrics.agent.output_tokens"
AGENT_COST: Final = "agentmetrics.agent.cost"
AGENT_UNPRICED_CALLS: Final = "agentmetrics.agent.unpriced_calls"
AGENT_ERRORS: Final = "agentmetrics.agent.errors"
# Generic operations (agentmetrics.operation): the span carries the name under this key.
CUSTOM_OPERATION_NAME: Final = "agentmetrics.operation.name"
# The attribution key whose values overflowed (agentmetrics.attribute.overflow).
ATTRIBUTE_KEY: Final = "agentmetrics.attribute.key"

# Batch and realtime (issue 24): how a call was processed, on spans and on every model-call metric.
PROCESSING: Final = "agentmetrics.processing"  # "batch" for a batch API's results; absent for interactive calls
PROCESSING_BATCH: Final = "batch"
OP_BATCH: Final = "batch"  # the span over one batch's results read (its model calls are its children)
OP_REALTIME: Final = "realtime"  # the span over one realtime session (each response is a child chat span)
BATCH_ID: Final = "agentmetrics.batch.id"
BATCH_STATUS: Final = "agentmetrics.batch.status"
BATCH_REQUESTS: Final = "agentmetrics.batch.requests"  # result lines read
BATCH_FAILED_REQUESTS: Final = "agentmetrics.batch.failed_requests"
BATCH_DUPLICATE_READ: Final = "agentmetrics.batch.duplicate_read"
# Per-modality usage, as genai-prices names it (gen_ai.usage.<key>): audio/image tokens, characters, seconds.
USAGE_DETAIL_PREFIX: Final = "gen_ai.usage."
REALTIME_SESSION_ID: Final = "agentmetrics.realtime.session.id"
REALTIME_RESPONSES: Final = "agentmetrics.realtime.responses"

# Span event used for content when capture mode is EVENT_ONLY or SPAN_AND_EVENT.
CONTENT_EVENT: Final = "gen_ai.client.inference.operation.details"

# Metric instruments.
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
METRIC_COST: Final = "gen_ai.usage.cost"
METRIC_CALLS_IN_FLIGHT: Final = "agentmetrics.calls.active"
METRIC_UNPRICED_CALLS: Final = "agentmetrics.calls.unpriced"
METRIC_TOOL_DURATION: Final = "agentmetrics.tool.duration"
METRIC_AGENT_DURATION: Final = "agentmetrics.agent.duration"
METRIC_AGENTS_ACTIVE: Final = "agentmetrics.agent.active"
METRIC_CUSTOM_OPERATION_DURATION: Final = "agentmetrics.operation.duration"
METRIC_CUSTOM_OPERATIONS_ACTIVE: Final = "agentmetrics.operation.active"
METRIC_ATTRIBUTE_OVERFLOW: Final = "agentmetrics.attribute.overflow"
METRIC_AGENT_MODEL_CALLS: Final = "agentmetrics.agent.model_calls"  # per run: an agent loop's iterations
METRIC_AGENT_COST: Final = "agentmetrics.agent.cost"  # per run, USD
# Model calls per agent run: small counts, then the long tail of runaway loops.
ITERATION_BUCKETS: Final = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)
METRIC_EXPORT_DROPPED: Final = "agentmetrics.export.dropped"
EXPORT_SIGNAL: Final = "agentmetrics.export.signal"  # traces or metrics
# A reported value that could not be believed (a token count of "abc", -1 or 2**63): dropped, its field counted.
METRIC_REJECTED_VALUES: Final = "agentmetrics.values.rejected"
RECORD_FIELD: Final = "agentmetrics.record.field"  # the call record's field, e.g. input_tokens

# Bucket advice from the conventions.
DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# Dollars per call: from a ten-thousandth of a cent (an embedding, a small model's reply) to tens of dollars.
COST_BUCKETS: Final = (
    0.000001, 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 25.0,
)  # fmt: skip

# Retrieval and vector-store writes (otel_agentmetrics/retrieval.py). The GenAI conventions define the
# ``retrieval`` operation and its attributes; the store, collection, operation and rows are the database
# conventions' names. Writes have no GenAI operation name in the conventions: ``add_documents`` and
# ``delete_documents`` are ours. The memory operations are the conventions' (mem0 and the like).
OP_RETRIEVAL: Final = "retrieval"
OP_ADD_DOCUMENTS: Final = "add_documents"  # add, insert, upsert, update of vectors/documents in a store
OP_DELETE_DOCUMENTS: Final = "delete_documents"
OP_SEARCH_MEMORY: Final = "search_memory"
OP_CREATE_MEMORY: Final = "create_memory"
OP_UPDATE_MEMORY: Final = "update_memory"
OP_UPSERT_MEMORY: Final = "upsert_memory"
OP_DELETE_MEMORY: Final = "delete_memory"
DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"  # content: capture on only
RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"  # content: JSON [{"id": ..., "score": ...}]
DB_SYSTEM_NAME: Final = "db.system.name"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_RESPONSE_RETURNED_ROWS: Final = "db.response.returned_rows"
DB_NAMESPACE: Final = "db.namespace"  # a partition inside the collection (a Pinecone namespace)
# Well-known store names (db.system.name): the conventions' value where they have one, else the store's name.
DB_CHROMA: Final = "chroma"
DB_QDRANT: Final = "qdrant"
DB_LANCEDB: Final = "lancedb"
DB_FAISS: Final = "faiss"
DB_MILVUS: Final = "milvus"
DB_PINECONE: Final = "pinecone"
DB_WEAVIATE: Final = "weaviate"
DB_POSTGRESQL: Final = "postgresql"
# Agent-run roll-up of the retrievals inside the run.
AGENT_RETRIEVALS: Final = "agentmetrics.agent.retrievals"
AGENT_RETRIEVAL_DURATION: Final = "agentmetrics.agent.retrieval_duration"  # seconds, summed
# The database conventions' client metrics, with gen_ai.operation.name added so retrievals and writes split.
METRIC_DB_OPERATION_DURATION: Final = "db.client.operation.duration"
METRIC_DB_RETURNED_ROWS: Final = "db.client.response.returned_rows"
METRIC_STORE_OPERATIONS_ACTIVE: Final = "agentmetrics.store_operations.active"
DB_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)  # the database conventions' advice
ROW_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000)
# MCP (Model Context Protocol) spans and metrics, from the OpenTelemetry MCP conventions.
MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_SESSION_ID: Final = "mcp.session.id"
MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
MCP_RESOURCE_URI: Final = "mcp.resource.uri"
JSONRPC_REQUEST_ID: Final = "jsonrpc.request.id"
RPC_RESPONSE_STATUS_CODE: Final = "rpc.response.status_code"
NETWORK_TRANSPORT: Final = "network.transport"
PROMPT_NAME: Final = "gen_ai.prompt.name"
METRIC_MCP_CLIENT_DURATION: Final = "mcp.client.operation.duration"
METRIC_MCP_SERVER_DURATION: Final = "mcp.server.operation.duration"
MCP_DURATION_BUCKETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
# A2A (Agent2Agent): no OpenTelemetry conventions yet. The method is the RPC conventions' ``rpc.method`` (the A2A
# spec's method names, the same in every binding: SendMessage, GetTask, ...); the rest is ours.
RPC_METHOD: Final = "rpc.method"
A2A_TASK_ID: Final = "agentmetrics.a2a.task.id"
A2A_TASK_STATE: Final = "agentmetrics.a2a.task.state"  # the last state seen: TASK_STATE_COMPLETED, ...
ERROR_TYPE_TASK_FAILED: Final = "task_failed"  # an A2A task that ended in TASK_STATE_FAILED without an error answer
METRIC_A2A_CLIENT_DURATION: Final = "agentmetrics.a2a.client.duration"
METRIC_A2A_SERVER_DURATION: Final = "agentmetrics.a2a.server.duration"
# --- The latest GenAI conventions (open-telemetry/semantic-conventions-genai), behind OTEL_SEMCONV_STABILITY_OPT_IN.
# Which set a setup emits is decided once, when its Telemetry is built (see _conventions.py).
ENV_SEMCONV_STABILITY_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
OPT_IN_GEN_AI_LATEST: Final = "gen_ai_latest_experimental"  # the standard value: the latest names only
OPT_IN_GEN_AI_DUP: Final = "agentmetrics_gen_ai_dup"  # ours: the latest names and the v1.41.1 ones, for a migration
# Renamed from gen_ai.usage.cache_creation.input_tokens (semantic-conventions-genai#440).
USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
# gen_ai.client.token.usage is replaced by per-direction histograms and usage counters (gen-ai-token-metrics).
METRIC_INFERENCE_OPERATION_INPUT_TOKENS: Final = "gen_ai.client.inference.operation.input_tokens"
METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS: Final = "gen_ai.client.inference.operation.output_tokens"
METRIC_INFERENCE_USAGE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"
METRIC_INFERENCE_USAGE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"
METRIC_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.cache_read.input_tokens"
METRIC_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.cache_write.input_tokens"
METRIC_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.reasoning.output_tokens"
TOKEN_MODALITY: Final = "gen_ai.token.modality"
TOKEN_MODALITY_UNKNOWN: Final = "unknown"  # providers report no per-modality split we read yet
# Cost has no name in the conventions yet (gen_ai.usage.cost.* and gen_ai.client.operation.cost are an open
# proposal): USAGE_COST and METRIC_COST stay ours in every mode; switching is a change of those two lines.

# Evaluations (gen_ai.evaluation.result event).
EVENT_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
EVALUATION_NAME: Final = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"
METRIC_EVALUATION_SCORE: Final = "agentmetrics.evaluation.score"  # the conventions define no score metric

# Content uploaded by the completion hook: the span carries where it went instead of the content.
INPUT_MESSAGES_REF: Final = "gen_ai.input.messages_ref"
OUTPUT_MESSAGES_REF: Final = "gen_ai.output.messages_ref"
SYSTEM_INSTRUCTIONS_REF: Final = "gen_ai.system_instructions_ref"
TOOL_DEFINITIONS_REF: Final = "gen_ai.tool.definitions_ref"
