import Foundation
import Server

exit(CommandLineTool.main(CommandLine.arguments))
