import Foundation
import Vision

/// JSON bodies of the contract's success responses. Numbers are rounded for
/// people: coordinates to 0.01 px, confidences to 1e-4, times to 0.01 ms.
struct ModelReference: Encodable {
    let name: String
    let version: Int
}

struct ImageSize: Encodable {
    let width: Int
    let height: Int
}

struct Timing: Encodable {
    let decode_ms: Double
    let inference_ms: Double
    let total_ms: Double
    let queue_ms: Double
}

/// `{"success": true, "request_id", "model", "image", "predictions", "timing"}` plus task extras.
struct ImageEnvelope<Prediction: Encodable, Extra: Encodable>: Encodable {
    let success = true
    let request_id: String
    let model: ModelReference
    let image: ImageSize
    let predictions: [Prediction]
    let timing: Timing
    let extra: Extra?

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(success, forKey: DynamicKey("success"))
        try container.encode(request_id, forKey: DynamicKey("request_id"))
        try container.encode(model, forKey: DynamicKey("model"))
        try container.encode(image, forKey: DynamicKey("image"))
        try container.encode(predictions, forKey: DynamicKey("predictions"))
        try container.encode(timing, forKey: DynamicKey("timing"))
        try extra?.encode(to: encoder)
    }
}

struct NoExtra: Encodable {
    func encode(to encoder: Encoder) throws {}
}

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

func round(_ value: Float, _ places: Int) -> Double {
    let scale = pow(10.0, Double(places))
    return (Double(value) * scale).rounded() / scale
}

struct BoxJSON: Encodable {
    let x_min: Double, y_min: Double, x_max: Double, y_max: Double
    init(_ box: Box) {
        x_min = round(box.xMin, 2)
        y_min = round(box.yMin, 2)
        x_max = round(box.xMax, 2)
        y_max = round(box.yMax, 2)
    }
}

struct FacePrediction: Encodable {
    struct Landmarks: Encodable {
        let left_eye: [Double], right_eye: [Double], nose: [Double], mouth_left: [Double], mouth_right: [Double]
    }
    struct Age: Encodable { let value: Double, low: Double, high: Double }
    struct Gender: Encodable { let value: String, confidence: Double }

    let confidence: Double
    let box: BoxJSON
    let landmarks: Landmarks
    var age: Age?
    var gender: Gender?

    init(_ face: DetectedFace) {
        confidence = round(face.confidence, 4)
        box = BoxJSON(face.box)
        let points = face.landmarks.map { [round($0.x, 2), round($0.y, 2)] }
        landmarks = Landmarks(left_eye: points[0], right_eye: points[1], nose: points[2], mouth_left: points[3], mouth_right: points[4])
    }
}

struct DetectionPrediction: Encodable {
    let label: String
    let class_id: Int
    let confidence: Double
    let box: BoxJSON

    init(_ detection: Detection) {
        label = detection.label
        class_id = detection.classId
        confidence = round(detection.confidence, 4)
        box = BoxJSON(detection.box)
    }
}

/// DeepStack's shape: flat integer boxes.
struct DeepStackPrediction: Encodable {
    let label: String?
    let confidence: Double
    let x_min: Int, y_min: Int, x_max: Int, y_max: Int

    init(label: String?, confidence: Float, box: Box) {
        self.label = label
        self.confidence = round(confidence, 4)
        x_min = Int(box.xMin.rounded())
        y_min = Int(box.yMin.rounded())
        x_max = Int(box.xMax.rounded())
        y_max = Int(box.yMax.rounded())
    }
}

struct DeepStackResponse: Encodable {
    let success = true
    let predictions: [DeepStackPrediction]
}

/// JSON encoding used for every response body.
func encodeJSON<T: Encodable>(_ value: T) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(value)) ?? Data("{\"success\":false,\"error\":\"response encoding failed\",\"code\":\"internal\"}".utf8)
}

struct SegmentPrediction: Encodable {
    let label: String
    let pixel_fraction: Double
}

/// The mask (and text regions) that /segment adds to the envelope.
struct SegmentExtra: Encodable {
    struct Mask: Encodable {
        let width: Int, height: Int
        let format = "png", encoding = "base64"
        let data: String
    }
    struct Region: Encodable {
        let confidence: Double
        let box: BoxJSON
        let polygon: [[Double]]
    }
    let mask: Mask
    let regions: [Region]?
}
