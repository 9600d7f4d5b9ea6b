// The parser has no types of its own: what the metrics tests read of its output.
declare module "parse-prometheus-text-format" {
  /** One metric family, as prom2json writes it. */
  interface Family {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: {
      value?: string;
      labels?: Record<string, string>;
      buckets?: Record<string, string>;
      count?: string;
      sum?: string;
    }[];
  }
  /** Parses Prometheus text format; throws on what it cannot parse. */
  export default function parse(text: string): Family[];
}
