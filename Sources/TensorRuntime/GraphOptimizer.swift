/// Load-time rewrites that keep results equal within float rounding.
public enum GraphOptimizer {
    public static func optimize(_ graph: Graph) -> Graph {
        graph
    }
}
