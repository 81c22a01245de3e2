import Foundation
import SecretsCore
import Sinks

/// `tokenscan`'s command line (DESIGN.md "Command line"). Answers the process exit status:
/// 0 success, 1 failure at run time, 2 a usage or configuration error.
public enum CommandLineTool {
    static let usage = """
    usage:
      tokenscan serve --config FILE                    run the receiver
      tokenscan dev [--port 8000] [--vendor-port 8964] [--data DIR]
                                                       receiver + fake vendor wired together, with a demo token
      tokenscan fake-vendor --port 8964 --target URL [--host H] [--state FILE]
                                                       the fake vendor: key management UI, sign and send
      tokenscan tokens create --config FILE --user NAME --email ADDR [--description TEXT]
                                                       mint a PyPI-format token and print it once
      tokenscan tokens list --config FILE [--user NAME] [--json]
      tokenscan events list --config FILE [--user NAME] [--json]
      tokenscan disclosures list --config FILE [--user NAME] [--json]
      tokenscan config check --config FILE             validate a configuration file
    """

    public static func main(_ arguments: [String]) -> Int32 {
        let words = Array(arguments.dropFirst())
        guard let command = words.first else {
            printError(usage)
            return 2
        }
        let rest = Array(words.dropFirst())
        do {
            switch command {
            case "serve": return try serve(rest)
            case "dev": return try runDevCommand(rest)
            case "fake-vendor": return runFakeVendorCommand(arguments: rest)
            case "tokens", "events", "disclosures": return try listingCommand(command, rest)
            case "config": return try configCommand(rest)
            case "help", "--help", "-h":
                print(usage)
                return 0
            default:
                printError("unknown command \"\(command)\"\n\(usage)")
                return 2
            }
        } catch let problem as Arguments.Problem {
            printError("tokenscan \(command): \(problem)\n\(usage)")
            return 2
        } catch let error as ConfigurationError {
            printError("tokenscan \(command): invalid configuration: \(error)")
            return 2
        } catch {
            printError("tokenscan \(command): \(error)")
            return 1
        }
    }

    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func loadConfiguration(_ args: Arguments) throws -> Configuration {
        try Configuration.load(path: try args.required("config"))
    }

    // MARK: serve

    static func serve(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, options: ["config"])
        let config = try loadConfiguration(args)
        SignalWaiter.blockTermination()
        let logger = Logger(minimum: config.logLevel)
        let app = try Application(configuration: config, logger: logger)
        try app.start()
        let signal = SignalWaiter.wait()
        logger.info("shutting down", ["signal": signal.description])
        app.stop()
        return 0
    }

    // MARK: config check

    static func configCommand(_ words: [String]) throws -> Int32 {
        guard words.first == "check" else { throw Arguments.Problem(description: "expected \"config check\"") }
        let args = try Arguments(Array(words.dropFirst()), options: ["config"])
        let path = try args.required("config")
        let config = try Configuration.load(path: path)
        let vendors = config.vendors.map { "\($0.id) (\($0.kind)\($0.enabled ? "" : ", disabled"))" }
        print("\(path): OK")
        print("  listen:   \(config.listen)")
        switch config.database {
        case .sqlite(let p, let d): print("  database: sqlite \(config.resolve(p)) (durability \(d.rawValue))")
        case .postgresql: print("  database: postgresql")
        }
        print("  mail:     \(config.mail.transport.rawValue)")
        print("  vendors:  \(vendors.isEmpty ? "none" : vendors.joined(separator: ", "))")
        print("  token types: \(config.tokenTypes.map(\.name).joined(separator: ", "))")
        return 0
    }

    // MARK: tokens / events / disclosures

    static func listingCommand(_ noun: String, _ words: [String]) throws -> Int32 {
        guard let verb = words.first else { throw Arguments.Problem(description: "expected \"\(noun) list\"\(noun == "tokens" ? " or \"tokens create\"" : "")") }
        let rest = Array(words.dropFirst())
        if noun == "tokens" && verb == "create" {
            return try createToken(rest)
        }
        guard verb == "list" else { throw Arguments.Problem(description: "unknown subcommand \"\(noun) \(verb)\"") }
        let args = try Arguments(rest, options: ["config", "user"], switches: ["json"])
        let config = try loadConfiguration(args)
        let storage = try Application.openStorage(config)
        let user = args.value("user")
        let json = args.flag("json")
        switch noun {
        case "tokens":
            let tokens = try storage.tokens.tokens(user: user)
            print(json ? Listings.json(tokens.map(Listings.tokenObject)) : Listings.tokensTable(tokens))
        case "events":
            let events = try storage.events.events(user: user)
            print(json ? Listings.json(events.map(Listings.eventObject)) : Listings.eventsTable(events))
        default:
            let records = try storage.queue.disclosures(user: user)
            print(json ? Listings.json(records.map(Listings.disclosureObject)) : Listings.disclosuresTable(records))
        }
        return 0
    }

    static func createToken(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, options: ["config", "user", "email", "description"])
        let config = try loadConfiguration(args)
        let user = try args.required("user")
        let email = try args.required("email")
        guard email.contains("@"), !email.contains(where: { $0 == "\r" || $0 == "\n" || $0 == " " || $0 == "<" || $0 == ">" }) else {
            throw Arguments.Problem(description: "--email must be an email address, got \"\(email)\"")
        }
        let storage = try Application.openStorage(config)
        let token = try TokenIssuer(storage: storage, configuration: config)
            .issue(user: user, email: email, description: args.value("description") ?? "")
        print(token)
        return 0
    }
}
