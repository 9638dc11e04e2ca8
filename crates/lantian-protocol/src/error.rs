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
    (
        "install_auth_failed",
        401,
        "设备密钥登录失败，请用密码重新登录",
        "The install's key did not sign in; sign in with the password",
    ),
    (
        "client_revoked",
        403,
        "该设备已被注销，请在新安装上重新登录",
        "This app install was revoked; sign in again on a new install",
    ),
    (
        "one_time_password_expired",
        401,
        "一次性密码已过期，请联系管理员重新设置",
        "The one-time password has lapsed; ask an administrator for a new one",
    ),
    (
        "password_change_required",
        403,
        "请先设置新密码（一次性密码不能直接登录）",
        "Choose a new password first: a one-time password signs in nowhere",
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
    (
        "tus_version_unsupported",
        412,
        "不支持的 tus 协议版本（需要 Tus-Resumable: 1.0.0）",
        "Unsupported tus version (Tus-Resumable: 1.0.0 is required)",
    ),
    (
        "upload_offset_mismatch",
        409,
        "上传偏移量与服务器不一致，请先查询当前偏移量",
        "Upload-Offset does not match the server's; ask for the current offset first",
    ),
    (
        "upload_locked",
        423,
        "该上传正在被另一个连接写入",
        "Another connection is writing to this upload",
    ),
    (
        "upload_expired",
        410,
        "上传已过期，请重新创建",
        "The upload has expired; create it again",
    ),
    (
        "upload_conflict",
        409,
        "该照片已有一个不同文件的上传",
        "This photo already has an upload of a different file",
    ),
    (
        "upload_complete",
        409,
        "照片已验证，是证据，不能删除",
        "The photo is verified evidence and cannot be deleted",
    ),
    (
        "checksum_unsupported",
        400,
        "不支持的校验算法（支持 sha1、sha256）",
        "Unsupported checksum algorithm (sha1 and sha256 are supported)",
    ),
    (
        "checksum_mismatch",
        460,
        "数据块校验和不符，未保存",
        "The chunk does not match its checksum; nothing was stored",
    ),
    (
        "inspection_not_found",
        404,
        "检查记录不存在",
        "No such inspection",
    ),
    (
        "incident_not_found",
        404,
        "事件报告不存在",
        "No such incident report",
    ),
    (
        "photo_not_expected",
        422,
        "该检查记录不需要这张照片",
        "The inspection does not list this photo",
    ),
    (
        "photo_hash_mismatch",
        422,
        "照片的 SHA-256 与声明不符，已拒收，请重新上传",
        "The photo's SHA-256 differs from the declared one; it was refused, upload it again",
    ),
    (
        "photo_too_large",
        413,
        "照片文件过大",
        "The photo file is too large",
    ),
    (
        "photo_size_mismatch",
        422,
        "照片大小与声明不符",
        "The photo's size differs from the declared length",
    ),
    (
        "photo_format_unsupported",
        415,
        "不是 JPEG、PNG 或 WebP 图片",
        "Not a JPEG, PNG or WebP image",
    ),
    (
        "photo_dimensions_too_large",
        422,
        "照片尺寸或像素数超出限制",
        "The photo's dimensions or pixel count exceed the limits",
    ),
    (
        "photo_truncated",
        422,
        "照片文件不完整",
        "The photo file is truncated",
    ),
    (
        "photo_corrupt",
        422,
        "照片文件已损坏",
        "The photo file is corrupt",
    ),
    (
        "photo_exif_malformed",
        422,
        "照片的 EXIF 信息格式错误",
        "The photo's EXIF block is malformed",
    ),
    (
        "rendition_pending",
        503,
        "缩略图正在生成，请稍后重试",
        "The rendition is being made; retry shortly",
    ),
    (
        "rendition_failed",
        404,
        "无法为该照片生成缩略图，请查看原图",
        "No rendition could be made of this photo; see the original",
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
