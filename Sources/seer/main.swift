import ArgumentParser

/// The `seer` command line: one subcommand per file, listed here.
struct Seer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seer",
        abstract: "Self-hosted computer-vision inference on the CPU.",
        subcommands: [
            ServeCommand.self,
            RunCommand.self,
            BenchCommand.self,
            DetectCommand.self,
            FacesCommand.self,
            AgeCommand.self,
            SegmentCommand.self,
            AnomalyCommand.self,
            HealthcheckCommand.self,
        ])
}

Seer.main()
