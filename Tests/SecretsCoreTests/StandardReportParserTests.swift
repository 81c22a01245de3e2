import Foundation
import Testing
@testable import SecretsCore

@Suite("Report parsing")
struct StandardReportParserTests {
    let parser = StandardReportParser()

    @Test func githubDocsSampleBody() throws {
        let sample = try Fixture.decode(SignedSample.self, from: "github-docs-sample.json")
        let disclosures = try parser.disclosures(from: Array(sample.cases[0].body.utf8))
        try #require(disclosures.count == 1)
        #expect(disclosures[0].token?.value == "some_token")
        #expect(disclosures[0].type == "some_type")
        #expect(disclosures[0].url == "https://example.com/base-repo-url/")
        #expect(disclosures[0].source == "commit")
        #expect(disclosures[0].problem == nil)
    }

    @Test func warehouseSampleKeepsTheLeadingSpaceAndNoSource() throws {
        let sample = try Fixture.decode(SignedSample.self, from: "warehouse-sample.json")
        let disclosures = try parser.disclosures(from: Array(sample.cases[0].body.utf8))
        #expect(disclosures.map(\.url) == [" https://github.com/github/faketestrepo/blob/b0dd59c0b500650cacd4551ca5989a6194001b10/production.env"])
        #expect(disclosures.map(\.source) == [nil])
        #expect(disclosures.map(\.type) == ["github_oauth_token"])
    }

    @Test(arguments: ["", "not json", "[", "{\"a\":", "\u{FF}"])
    func notJSON(_ body: String) {
        #expect(throws: ReportError.notJSON) { try parser.disclosures(from: Array(body.utf8)) }
    }

    @Test func invalidUTF8IsNotJSON() {
        #expect(throws: ReportError.notJSON) { try parser.disclosures(from: [0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]) }
    }

    @Test(arguments: ["{}", "\"text\"", "42", "null", #"{"token":"t"}"#])
    func notArray(_ body: String) {
        #expect(throws: ReportError.notArray) { try parser.disclosures(from: Array(body.utf8)) }
    }

    @Test func tooManyItems() throws {
        let small = StandardReportParser(maxItems: 3)
        #expect(try small.disclosures(from: Array("[1,2,3]".utf8)).count == 3)
        #expect(throws: ReportError.tooManyItems(limit: 3)) { try small.disclosures(from: Array("[1,2,3,4]".utf8)) }
        #expect(ReportError.tooManyItems(limit: 3).reason == "too_many_items")
    }

    @Test func emptyArrayIsNoDisclosures() throws {
        #expect(try parser.disclosures(from: Array("[]".utf8)).isEmpty)
    }

    /// One malformed item never fails the batch: it becomes a disclosure with a problem.
    @Test(arguments: [
        (#"42"#, "item is not an object", false),
        (#"[]"#, "item is not an object", false),
        (#"{}"#, "token missing", false),
        (#"{"token":null,"type":"x"}"#, "token missing", false),
        (#"{"token":12345,"type":"x"}"#, "token is not a string", false),
        (#"{"token":true}"#, "token is not a string", false),
        (#"{"token":""}"#, "token empty", false),
        (#"{"token":"ok","type":5}"#, "type is not a string", true),
        (#"{"token":"ok","url":["u"]}"#, "url is not a string", true),
        (#"{"token":"ok","source":{}}"#, "source is not a string", true),
        (#"{"token":"ok","type":"t","url":"","source":null}"#, nil, true),
        (#"{"token":"ok"}"#, nil, true),
    ] as [(String, String?, Bool)])
    func itemsAreJudgedOneByOne(_ item: String, _ problem: String?, _ keepsToken: Bool) throws {
        let body = "[\(item), {\"token\":\"good\",\"type\":\"t\",\"url\":\"u\"}]"
        let disclosures = try parser.disclosures(from: Array(body.utf8))
        try #require(disclosures.count == 2)
        #expect(disclosures[0].problem == problem)
        #expect((disclosures[0].token != nil) == keepsToken)
        #expect(disclosures[1].problem == nil)
        #expect(disclosures[1].token?.value == "good")
    }

    @Test func tokenLengthLimitCountsBytes() throws {
        let limited = StandardReportParser(maxTokenLength: 8)
        let secret = "é-secret" // 9 bytes, 8 characters
        let disclosures = try limited.disclosures(from: Array("[{\"token\":\"\(secret)\"},{\"token\":\"12345678\"}]".utf8))
        #expect(disclosures[0].problem == "token too long")
        #expect(disclosures[0].token == nil)
        #expect(disclosures[1].token?.value == "12345678")
    }

    @Test func problemsNeverHoldTheToken() throws {
        let secret = "pypi-SECRET-VALUE-\(UUID().uuidString)"
        let body = "[{\"token\":\"\(secret)\",\"type\":1,\"url\":2,\"source\":3}]"
        let disclosure = try #require(try parser.disclosures(from: Array(body.utf8)).first)
        let problem = try #require(disclosure.problem)
        #expect(!problem.contains(secret))
        #expect(problem == "type is not a string; url is not a string; source is not a string")
        #expect(!String(describing: disclosure).contains(secret))
    }
}
