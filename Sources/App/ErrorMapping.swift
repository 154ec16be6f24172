import Foundation
import HTTPServer
import Media
import ONNX
import Store
import TensorRuntime
import Vision

/// The one place where errors from below the HTTP layer become HTTP errors.
/// Bad input is always a 4xx naming what is wrong; only Seer's own faults are 500.
func httpError(for error: Error) -> HTTPError {
    switch error {
    case let error as HTTPError:
        return error
    case let error as ImageError:
        switch error {
        case .unsupportedFormat:
            return HTTPError(status: 415, code: "unsupported_media_type", message: error.description)
        case .invalidImage:
            return HTTPError(status: 400, code: "invalid_image", message: error.description)
        case .tooLarge:
            return HTTPError(status: 422, code: "image_too_large", message: error.description)
        case .encodingFailed:
            return HTTPError(status: 500, code: "internal", message: error.description)
        }
    case let error as VideoError:
        switch error {
        case .invalidVideo, .noVideoStream:
            return HTTPError(status: 400, code: "invalid_video", message: error.description)
        case .unsupportedCodec:
            return HTTPError(status: 415, code: "unsupported_media_type", message: error.description)
        case .tooManyBytes:
            return HTTPError(status: 413, code: "payload_too_large", message: error.description)
        case .tooLong:
            return HTTPError(status: 422, code: "video_too_long", message: error.description)
        case .tooLarge:
            return HTTPError(status: 422, code: "video_too_large", message: error.description)
        case .tooManyFrames:
            return HTTPError(status: 422, code: "too_many_frames", message: error.description)
        case .deadlineExceeded:
            return HTTPError(status: 422, code: "decode_timeout", message: error.description)
        case .decodingUnavailable:
            return HTTPError(status: 503, code: "video_decoding_unavailable", message: error.description)
        }
    case let error as VisionError:
        switch error {
        case .invalidParameter:
            return HTTPError(status: 400, code: "invalid_parameter", message: error.description)
        case .incompatibleModel:
            return HTTPError(status: 500, code: "internal", message: error.description)
        }
    case let error as RegistryError:
        switch error {
        case .modelNotFound, .versionNotFound:
            return HTTPError(status: 404, code: "model_not_found", message: error.description)
        case .activeVersion, .versionExists:
            return HTTPError(status: 409, code: "conflict", message: error.description)
        case .invalidName, .invalidVersion, .invalidPath, .invalidField:
            return HTTPError(status: 400, code: "invalid_parameter", message: error.description)
        }
    case let error as WorkerPool<Worker>.SubmitError:
        switch error {
        case let .queueFull(capacity):
            return HTTPError(status: 503, code: "overloaded",
                             message: "all workers are busy and \(capacity) requests are already waiting; retry shortly",
                             headers: ["Retry-After": "1"])
        case .shuttingDown:
            return HTTPError(status: 503, code: "not_ready", message: "the server is shutting down",
                             headers: ["Retry-After": "5"])
        }
    default:
        return HTTPError(status: 500, code: "internal", message: "internal error: \(error)")
    }
}

/// Model files rejected at registration.
func modelFileError(_ error: Error) -> HTTPError {
    if case let ModelLoadError.graph(_, _, underlying) = error { return modelFileError(underlying) }
    switch error {
    case let error as RuntimeError:
        if case .unsupported = error {
            return HTTPError(status: 422, code: "unsupported_operator", message: error.description)
        }
        return HTTPError(status: 400, code: "invalid_model_file", message: error.description)
    case let error as HTTPError:
        return error
    default:
        return HTTPError(status: 400, code: "invalid_model_file", message: "\(error)")
    }
}

extension HTTPError {
    static func invalidParameter(_ message: String) -> HTTPError {
        HTTPError(status: 400, code: "invalid_parameter", message: message)
    }
    static func modelNotFound(_ message: String) -> HTTPError {
        HTTPError(status: 404, code: "model_not_found", message: message)
    }
    static func notReady(_ message: String) -> HTTPError {
        HTTPError(status: 503, code: "not_ready", message: message, headers: ["Retry-After": "1"])
    }
}
