//! The error shape: `{"error": {"code": "...", "message": "...", "field": "...", "detail": "..."}}`.
//!
//! `code` is stable and snake_case: clients switch on it. `message` is for people, in Chinese by
//! default or English when `Accept-Language` prefers it. `field` names the offending input field
//! when there is one; `detail` is a finer machine code (e.g. the validation rule that failed).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Every error code the API may answer, with its HTTP status and its messages (zh, en). The
/// OpenAPI spec lists the same table; a test checks they agree.
pub const CODES: &[(&str, u16, &str, &str)] = &[
    (
        "bad_request",
        400,
        "请求格式错误",
        "The request is malformed",
    ),
    (
        "invalid_json",
        400,
        "请求体不是有效的 JSON",
        "The body is not valid JSON",
    ),
    (
        "unknown_field",
        400,
        "请求包含未知字段",
        "The request has a field this API does not know",
    ),
    (
        "protocol_unsupported",
        400,
        "客户端同步协议版本不受支持，请升级应用",
        "This sync protocol version is not supported; update the app",
    ),
    (
        "validation_failed",
        422,
        "请求内容未通过校验",
        "The request failed validation",
    ),
    (
        "unsupported_media_type",
        415,
        "不支持的内容类型",
        "Unsupported content type",
    ),
    (
        "unauthenticated",
        401,
        "未登录或令牌无效",
        "Missing or invalid access token",
    ),
    (
        "token_expired",
        401,
        "访问令牌已过期",
        "The access token has expired",
    ),
    (
        "invalid_credentials",
        401,
        "用户名或密码错误",
        "Wrong username or password",
    ),
    (
        "refresh_token_invalid",
        401,
        "刷新令牌无效或已过期",
        "The refresh token is invalid or expired",
    ),
    (
        "refresh_token_reused",
        401,
        "刷新令牌被重复使用，该登录已全部失效",
        "The refresh token was reused; the whole login has been revoked",
    ),
    ("forbidden", 403, "无权执行此操作", "You may not do this"),
    ("not_found", 404, "对象不存在", "No such object"),
    ("route_not_found", 404, "接口不存在", "No such endpoint"),
    (
        "method_not_allowed",
        405,
        "不支持该请求方法",
        "Method not allowed for this endpoint",
    ),
    (
        "conflict",
        409,
        "与当前数据冲突",
        "Conflicts with the current state",
    ),
    (
        "version_conflict",
        409,
        "数据已被他人修改，请刷新后重试",
        "Changed by someone else since you read it; reload and retry",
    ),
    (
        "precondition_required",
        428,
        "缺少 If-Match 版本号",
        "If-Match with the expected version is required",
    ),
    (
        "payload_too_large",
        413,
        "请求体过大",
        "The request body is too large",
    ),
    (
        "rate_limited",
        429,
        "尝试过于频繁，请稍后再试",
        "Too many attempts; try again later",
    ),
    (
        "request_timeout",
        408,
        "请求超时",
        "The request took too long",
    ),
    (
        "unavailable",
        503,
        "服务暂时不可用，请稍后重试",
        "Temporarily unavailable; retry later",
    ),
    ("internal", 500, "服务器内部错误", "Internal server error"),
];

/// Looks a code up in [`CODES`].
pub fn lookup(code: &str) -> Option<(u16, &'static str, &'static str)> {
    CODES
        .iter()
        .find(|(c, ..)| *c == code)
        .map(|(_, s, zh, en)| (*s, *zh, *en))
}
