"""What an S3 request's failure means, in one line a person can act on."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from runner.errors import DestinationError


def error_code(exc: ClientError) -> str:
    """S3's error code (``NoSuchKey``, ``PreconditionFailed``, ...), or an HTTP status."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def missing(exc: ClientError) -> bool:
    """The request failed because the object is not there."""
    return error_code(exc) in ("NoSuchKey", "404")


def s3_error(exc: Exception, url: str) -> DestinationError:
    """One line a person can act on, for any botocore failure."""
    return DestinationError(f"{url}: {s3_reason(exc, url)}")


def s3_reason(exc: Exception, url: str) -> str:
    """What went wrong with a botocore request on ``url``, in words."""
    if isinstance(exc, NoCredentialsError):
        text = "no AWS credentials found (environment, profile or instance role)"
    elif isinstance(exc, EndpointConnectionError):
        text = f"cannot reach the S3 endpoint {exc.kwargs.get('endpoint_url', '')}".rstrip()
    elif isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        bucket = url[5:].split("/", 1)[0]
        if code in ("NoSuchBucket",) or (code == "404" and status == 404):
            text = f"bucket '{bucket}' does not exist"
        elif code in (
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "InvalidToken",
            "ExpiredToken",
        ):
            text = f"S3 rejected the credentials ({code}); check AWS_ACCESS_KEY_ID/AWS_PROFILE"
        elif code in ("AccessDenied", "403", "AllAccessDisabled"):
            text = f"access denied to {url}; check the bucket policy and credentials"
        else:
            message = exc.response.get("Error", {}).get("Message", "")
            text = f"S3 error {code or status}: {message}".rstrip(": ")
    else:
        text = f"S3 request failed: {type(exc).__name__}"
    return text
