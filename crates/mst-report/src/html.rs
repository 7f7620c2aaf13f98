//! `index.html`: the summary table and every plot on one static page. Styles are inline and
//! images are the report's own SVG files by relative path, so the folder can be copied, zipped
//! or opened from disk with no network.

use crate::plots::Plot;
use crate::summary::SummaryRow;
use std::fmt::Write as _;

/// Escape text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

/// Relative URL of a report file (forward slashes whatever the platform).
fn href(p: &std::path::Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn figure(s: &mut String, p: &Plot) {
    let [png, svg] = p.files();
    let _ = writeln!(
        s,
        "<figure><a href=\"{png}\"><img src=\"{svg}\" alt=\"{alt}\" loading=\"lazy\"></a>\
         <figcaption>{alt} (<a href=\"{png}\">PNG</a>, <a href=\"{svg}\">SVG</a>)</figcaption></figure>",
        png = escape(&href(&png)),
        svg = escape(&href(&svg)),
        alt = escape(&p.caption),
    );
}

/// The whole page.
pub fn page(rows: &[SummaryRow], plots: &[Plot]) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>MST report</title>\n\
         <style>body{font-family:sans-serif;margin:2em;max-width:1250px}\
         table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}\
         td:first-child,th:first-child{text-align:left}figure{margin:1em 0}img{max-width:100%}\
         figcaption{font-size:90%;color:#333;max-width:1100px}details{margin:1em 0}</style>\n\
         </head><body>\n<h1>MST report</h1>\n\
         <p>Files: <a href=\"summary.csv\">summary.csv</a>, <a href=\"summary.md\">summary.md</a>. \
         MST = the highest rate judged sustainable; the binding criterion is the one that failed \
         at the upper bound; latencies are those measured at the MST.</p>\n<table>\n\
         <tr><th>size</th><th>MST req/min</th><th>MST req/s</th><th>lower</th><th>upper</th>\
         <th>stop</th><th>iterations</th><th>wall time s</th><th>binding criterion</th>\
         <th>TTFT p50 ms</th><th>TTFT p99 ms</th><th>TPOT p50 ms</th><th>E2E p50 ms</th>\
         <th>E2E p99 ms</th></tr>\n",
    );
    for r in rows {
        let at = |i: usize| r.at_mst.get(i).copied().flatten();
        let _ = writeln!(
            s,
            "<tr><td><a href=\"#size-{id}\">{size}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            cell(r.mst_req_min, 1),
            cell(r.mst_req_s, 3),
            cell(r.lower_req_min, 1),
            cell(r.upper_req_min, 1),
            escape(r.stop_text()),
            r.iterations,
            cell(r.wall_time_s, 0),
            escape(&r.binding),
            cell(at(1), 1),
            cell(at(2), 1),
            cell(at(3), 2),
            cell(at(4), 1),
            cell(at(5), 1),
            id = escape(&r.dir_name),
            size = escape(&r.size),
        );
    }
    s.push_str("</table>\n");
    for p in plots.iter().filter(|p| p.section == "all sizes") {
        s.push_str("<h2>All sizes</h2>\n");
        figure(&mut s, p);
    }
    for r in rows {
        let _ = writeln!(
            s,
            "<h2 id=\"size-{}\">{}</h2>",
            escape(&r.dir_name),
            escape(&r.size)
        );
        let mine: Vec<&Plot> = plots.iter().filter(|p| p.section == r.size).collect();
        let (per_size, per_iteration): (Vec<&Plot>, Vec<&Plot>) = mine
            .into_iter()
            .partition(|p| !p.stem.to_string_lossy().ends_with("_latency"));
        for p in per_size {
            figure(&mut s, p);
        }
        if !per_iteration.is_empty() {
            let _ = writeln!(
                s,
                "<details><summary>{} iterations: latency over time</summary>",
                per_iteration.len()
            );
            for p in per_iteration {
                figure(&mut s, p);
            }
            s.push_str("</details>\n");
        }
    }
    s.push_str("</body></html>\n");
    s
}
