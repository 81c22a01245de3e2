/// The V2 binary serialization of libmacaroons and pymacaroons.
///
/// ```
/// 0x02
/// [location]  identifier  EOS                 header section
/// ( [location] identifier [vid] EOS )*  EOS   caveats section
/// signature                                   32 bytes
/// ```
/// A field is `type` (varint) then, unless it is EOS, `length` (varint) and that many bytes.
/// Field types: EOS 0, location 1, identifier 2, vid 4, signature 6. Fields inside a section come in
/// that order, each at most once; nothing may follow the signature.
enum MacaroonV2 {
    static let version: UInt8 = 0x02

    enum Field: UInt64 {
        case eos = 0, location = 1, identifier = 2, verificationID = 4, signature = 6
    }

    /// A bounds-checked reader over the serialization.
    private struct Reader {
        let bytes: [UInt8]
        var position: Int

        var atEnd: Bool { position == bytes.count }

        /// An unsigned LEB128 varint: minimal encoding, at most 9 bytes, value within `Int`.
        mutating func varint(_ what: String) throws(TokenFormatError) -> Int {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            var count = 0
            while true {
                guard position < bytes.count else { throw .malformed("truncated in \(what)") }
                let byte = bytes[position]
                position += 1
                count += 1
                guard count <= 9 else { throw .malformed("varint too long in \(what)") }
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 {
                    guard byte != 0 || count == 1 else { throw .malformed("non-minimal varint in \(what)") }
                    break
                }
                shift += 7
            }
            guard value <= UInt64(Int.max) else { throw .malformed("varint out of range in \(what)") }
            return Int(value)
        }

        mutating func fieldType(_ what: String) throws(TokenFormatError) -> Field {
            let raw = try varint(what)
            guard let field = Field(rawValue: UInt64(raw)) else { throw .malformed("unknown field type \(raw) in \(what)") }
            return field
        }

        mutating func data(_ what: String) throws(TokenFormatError) -> [UInt8] {
            let length = try varint(what)
            guard length <= bytes.count - position else { throw .malformed("truncated in \(what)") }
            let out = Array(bytes[position ..< position + length])
            position += length
            return out
        }
    }

    static func decode(_ bytes: [UInt8]) throws(TokenFormatError) -> Macaroon {
        guard bytes.first == version else { throw .malformed("not a V2 macaroon") }
        var reader = Reader(bytes: bytes, position: 1)

        // Header section.
        var location: [UInt8]?
        var field = try reader.fieldType("the header")
        if field == .location {
            location = try reader.data("the location")
            field = try reader.fieldType("the header")
        }
        guard field == .identifier else { throw .malformed("missing identifier") }
        let identifier = try reader.data("the identifier")
        guard try reader.fieldType("the header") == .eos else { throw .malformed("unexpected field in the header") }

        // Caveats section: bounded by the input, each caveat takes at least three bytes.
        var caveats: [Macaroon.Caveat] = []
        while true {
            field = try reader.fieldType("the caveats")
            if field == .eos { break }
            var caveatLocation: [UInt8]?
            if field == .location {
                caveatLocation = try reader.data("a caveat location")
                field = try reader.fieldType("a caveat")
            }
            guard field == .identifier else { throw .malformed("caveat without an identifier") }
            let caveatID = try reader.data("a caveat identifier")
            field = try reader.fieldType("a caveat")
            var verificationID: [UInt8]?
            if field == .verificationID {
                verificationID = try reader.data("a caveat verification id")
                field = try reader.fieldType("a caveat")
            }
            guard field == .eos else { throw .malformed("unexpected field in a caveat") }
            caveats.append(Macaroon.Caveat(location: caveatLocation, identifier: caveatID, verificationID: verificationID))
        }

        guard try reader.fieldType("the signature") == .signature else { throw .malformed("missing signature") }
        let signature = try reader.data("the signature")
        guard signature.count == 32 else { throw .malformed("signature is \(signature.count) bytes, not 32") }
        guard reader.atEnd else { throw .malformed("data after the signature") }
        return Macaroon(location: location, identifier: identifier, caveats: caveats, signature: signature)
    }

    static func encode(_ macaroon: Macaroon) -> [UInt8] {
        var out: [UInt8] = [version]
        func varint(_ value: Int) {
            var v = UInt64(value)
            while v >= 0x80 {
                out.append(UInt8(v & 0x7f) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }
        func field(_ type: Field, _ data: [UInt8]) {
            varint(Int(type.rawValue))
            varint(data.count)
            out += data
        }
        if let location = macaroon.location { field(.location, location) }
        field(.identifier, macaroon.identifier)
        out.append(0)
        for caveat in macaroon.caveats {
            if let location = caveat.location { field(.location, location) }
            field(.identifier, caveat.identifier)
            if let vid = caveat.verificationID { field(.verificationID, vid) }
            out.append(0)
        }
        out.append(0)
        field(.signature, macaroon.signature)
        return out
    }
}
