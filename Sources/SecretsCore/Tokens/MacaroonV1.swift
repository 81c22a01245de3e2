/// The V1 serialization of libmacaroons and pymacaroons: packets of `XXXX` (four hex digits, the
/// packet's whole length) then `key SP value LF`.
///
/// Accepted order, strictly: `location`? `identifier` ( `cid` `vid`? `cl`? )* `signature` (32 bytes),
/// each packet exactly filling its declared length, nothing after the signature.
enum MacaroonV1 {
    /// Every V1 serialization starts with a hex digit of its first packet's length.
    static func isPacketStart(_ byte: UInt8) -> Bool {
        hexValue(byte) != nil
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    private struct Packet {
        let key: String
        let value: [UInt8]
    }

    /// Splits the serialization into packets, checking every length against the bytes left.
    private static func packets(_ bytes: [UInt8]) throws(TokenFormatError) -> [Packet] {
        var out: [Packet] = []
        var position = 0
        while position < bytes.count {
            guard bytes.count - position >= 4 else { throw .malformed("truncated packet header") }
            var length = 0
            for i in 0..<4 {
                guard let digit = hexValue(bytes[position + i]) else { throw .malformed("bad packet length") }
                length = length << 4 | digit
            }
            // Four length digits, a key of at least one byte, a space and the final LF.
            guard length >= 7 else { throw .malformed("packet too short") }
            guard length <= bytes.count - position else { throw .malformed("truncated packet") }
            let end = position + length
            guard bytes[end - 1] == UInt8(ascii: "\n") else { throw .malformed("packet does not end in a newline") }
            let content = bytes[(position + 4) ..< (end - 1)]
            guard let space = content.firstIndex(of: UInt8(ascii: " ")), space > content.startIndex else {
                throw .malformed("packet without a key")
            }
            let keyBytes = content[content.startIndex ..< space]
            guard keyBytes.allSatisfy({ $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) else {
                throw .malformed("bad packet key")
            }
            out.append(Packet(key: String(decoding: keyBytes, as: UTF8.self), value: Array(content[(space + 1)...])))
            position = end
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) throws(TokenFormatError) -> Macaroon {
        let list = try packets(bytes)
        var index = 0
        func next() -> Packet? { index < list.count ? list[index] : nil }

        var location: [UInt8]?
        if let packet = next(), packet.key == "location" {
            location = packet.value
            index += 1
        }
        guard let idPacket = next(), idPacket.key == "identifier" else { throw .malformed("missing identifier") }
        index += 1

        var caveats: [Macaroon.Caveat] = []
        while let packet = next(), packet.key == "cid" {
            index += 1
            var caveat = Macaroon.Caveat(identifier: packet.value)
            if let vid = next(), vid.key == "vid" {
                caveat.verificationID = vid.value
                index += 1
            }
            if let cl = next(), cl.key == "cl" {
                caveat.location = cl.value
                index += 1
            }
            caveats.append(caveat)
        }

        guard let signaturePacket = next(), signaturePacket.key == "signature" else {
            throw .malformed("missing signature or unexpected packet")
        }
        index += 1
        guard signaturePacket.value.count == 32 else {
            throw .malformed("signature is \(signaturePacket.value.count) bytes, not 32")
        }
        guard index == list.count else { throw .malformed("data after the signature") }
        return Macaroon(location: location, identifier: idPacket.value, caveats: caveats, signature: signaturePacket.value)
    }
}
