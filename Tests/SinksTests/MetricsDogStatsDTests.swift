import Foundation
import SecretsCore
import Sinks
import Testing

/// A UDP socket on 127.0.0.1 that the tests read datagrams from.
final class UDPReceiver {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard fd >= 0, ok else {
            close(fd)
            throw TestFailure("UDP bind failed")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    /// The next datagram, or nil after 2 s.
    func next() -> String? {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count < 0 ? nil : String(decoding: buffer[..<count], as: UTF8.self)
    }
}

@Suite("DogStatsDMetrics")
struct MetricsDogStatsDTests {
    @Test func countersAndObservationsArriveAsDatagrams() throws {
        let receiver = try UDPReceiver()
        let statsd = try DogStatsDMetrics(host: "127.0.0.1", port: receiver.port)
        statsd.increment("reports_received_total", labels: [("vendor", "github")], by: 1)
        statsd.increment("mails_sent_total", labels: [], by: 3)
        statsd.observe("request_duration_seconds", labels: [("vendor", "github"), ("outcome", "revoked")], value: 0.25)
        #expect(receiver.next() == "tokenscan.reports_received_total:1|c|#vendor:github")
        #expect(receiver.next() == "tokenscan.mails_sent_total:3|c")
        #expect(receiver.next() == "tokenscan.request_duration_seconds:0.25|h|#vendor:github,outcome:revoked")
        #expect(statsd.sentCount == 3)
        #expect(statsd.droppedCount == 0)
    }

    @Test func constantTagsPrefixAndReservedCharacters() throws {
        let receiver = try UDPReceiver()
        let statsd = try DogStatsDMetrics(host: "localhost", port: receiver.port, prefix: "ts.", constantTags: [("env", "prod")])
        Metrics(statsd).increment("bad:name|x", ["re#ason": "a,b|c:d\ne"], by: 2)
        #expect(receiver.next() == "ts.bad_name_x:2|c|#re_ason:a_b_c:d_e,env:prod")
        statsd.observe("plain", labels: [], value: 1.5)
        #expect(receiver.next() == "ts.plain:1.5|h|#env:prod")
    }

    @Test func withNoListenerSendsAreDroppedAndCountedNeverThrown() throws {
        let port: Int
        do { port = try UDPReceiver().port } // bound, then closed at once
        let statsd = try DogStatsDMetrics(host: "127.0.0.1", port: port)
        // The first datagram draws an ICMP "port unreachable"; the next send on the connected socket fails.
        for _ in 0..<100 where statsd.droppedCount == 0 {
            statsd.increment("x_total", labels: [], by: 1)
            usleep(5_000)
        }
        #expect(statsd.droppedCount > 0)
        #expect(statsd.sentCount + statsd.droppedCount <= 100)
    }

    @Test(arguments: [0, -1, 65_536])
    func aPortOutOfRangeIsRefusedAtSetUp(port: Int) {
        #expect(throws: MetricsSetupError.self) { try DogStatsDMetrics(port: port) }
    }
}
