//! The monthly bulletin (考评通报) in the formats people use: CSV (UTF-8 with a BOM, so Excel shows
//! Chinese), XLSX (a real workbook with formatted tables), and a printable HTML page with inline SVG
//! charts (score by unit, trend over the campaign). JSON is the `Bulletin` itself.

use lantian_domain::assessment::Bulletin;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

const HEADERS: [&str; 14] = [
    "组别 group",
    "名次 rank",
    "单位 unit",
    "名称 name",
    "得分 score",
    "环比 change",
    "检查合规率 compliance",
    "覆盖率 coverage",
    "结案率 closed",
    "按期结案率 on time",
    "返工率 rework",
    "延期率 extension",
    "证据质量 evidence",
    "检查数 inspections",
];

/// CSV: a BOM, a header row, then every ranked unit.
pub fn to_csv(b: &Bulletin) -> Result<Vec<u8>, csv::Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(HEADERS)?;
        for g in &b.groups {
            for r in &g.rows {
                w.write_record([
                    g.group.clone(),
                    r.rank.map(|x| x.to_string()).unwrap_or_default(),
                    r.unit.clone(),
                    r.name.clone(),
                    format!("{:.2}", r.score),
                    r.change.map(|c| format!("{c:+.2}")).unwrap_or_default(),
                    format!("{:.4}", r.compliance),
                    format!("{:.4}", r.coverage),
                    format!("{:.4}", r.closed),
                    format!("{:.4}", r.on_time),
                    format!("{:.4}", r.rework),
                    format!("{:.4}", r.extension),
                    format!("{:.4}", r.evidence_quality),
                    r.inspections.to_string(),
                ])?;
            }
        }
        w.flush()?;
    }
    Ok(out)
}

/// XLSX: sheet 排名 (ranking, per group), 超期 (overdue orders), 返工 (reworks), 说明 (about).
pub fn to_xlsx(b: &Bulletin) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let head = Format::new()
        .set_bold()
        .set_background_color(0xDDEBF7)
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center);
    let cell = Format::new().set_border(FormatBorder::Thin);
    let score = cell.clone().set_num_format("0.00");
    let change = cell.clone().set_num_format("+0.00;-0.00;0.00");
    let pct = cell.clone().set_num_format("0.00%");
    let title = Format::new().set_bold().set_font_size(14);
    {
        let ws = wb.add_worksheet();
        ws.set_name("排名")?;
        ws.write_string_with_format(
            0,
            0,
            format!(
                "{} 考评通报 {} (revision {})",
                b.campaign, b.month, b.revision
            ),
            &title,
        )?;
        for (c, h) in HEADERS.iter().enumerate() {
            ws.write_string_with_format(2, c as u16, *h, &head)?;
            ws.set_column_width(c as u16, if c == 3 { 24 } else { 14 })?;
        }
        let mut row = 3u32;
        for g in &b.groups {
            for r in &g.rows {
                ws.write_string_with_format(row, 0, &g.group, &cell)?;
                match r.rank {
                    Some(k) => ws.write_number_with_format(row, 1, k, &cell)?,
                    None => ws.write_string_with_format(row, 1, "", &cell)?,
                };
                ws.write_string_with_format(row, 2, &r.unit, &cell)?;
                ws.write_string_with_format(row, 3, &r.name, &cell)?;
                ws.write_number_with_format(row, 4, r.score, &score)?;
                match r.change {
                    Some(x) => ws.write_number_with_format(row, 5, x, &change)?,
                    None => ws.write_string_with_format(row, 5, "", &cell)?,
                };
                for (i, v) in [
                    r.compliance,
                    r.coverage,
                    r.closed,
                    r.on_time,
                    r.rework,
                    r.extension,
                    r.evidence_quality,
                ]
                .into_iter()
                .enumerate()
                {
                    ws.write_number_with_format(row, 6 + i as u16, v, &pct)?;
                }
                ws.write_number_with_format(row, 13, r.inspections as f64, &cell)?;
                row += 1;
            }
        }
        ws.set_freeze_panes(3, 0)?;
    }
    {
        let ws = list_sheet(
            &mut wb,
            "超期",
            &["整改单 order", "单位 unit", "检查项 item", "期限 deadline"],
            38,
            &head,
        )?;
        for (i, o) in b.overdue.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write_string_with_format(r, 0, &o.id, &cell)?;
            ws.write_string_with_format(r, 1, &o.unit, &cell)?;
            ws.write_string_with_format(r, 2, &o.item, &cell)?;
            ws.write_string_with_format(r, 3, &o.deadline, &cell)?;
        }
    }
    {
        let ws = list_sheet(
            &mut wb,
            "返工",
            &["单位 unit", "名称 name", "返工 reworks", "应结 due"],
            20,
            &head,
        )?;
        for (i, w) in b.reworks.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write_string_with_format(r, 0, &w.unit, &cell)?;
            ws.write_string_with_format(r, 1, &w.name, &cell)?;
            ws.write_number_with_format(r, 2, w.reworks as f64, &cell)?;
            ws.write_number_with_format(r, 3, w.orders_due as f64, &cell)?;
        }
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("说明")?;
        ws.set_column_width(0, 100)?;
        ws.write_string(0, 0, format!("审计链头 audit chain head: {}", b.audit_head))?;
        ws.write_string(
            1,
            0,
            "指标口径见 docs/scoring.md；得分 = 100 × 加权(合规率, 覆盖率, 整改, 证据质量)",
        )?;
    }
    wb.save_to_buffer()
}

/// A sheet named `name` with a header row of `headers`, each column `width` wide.
fn list_sheet<'a>(
    wb: &'a mut Workbook,
    name: &str,
    headers: &[&str],
    width: u16,
    head: &Format,
) -> Result<&'a mut rust_xlsxwriter::Worksheet, XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, head)?;
        ws.set_column_width(c as u16, width)?;
    }
    Ok(ws)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart of the scores of one group.
fn bars(rows: &[(String, f64)]) -> String {
    let h = 24 * rows.len().max(1) + 20;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{h}\" role=\"img\" aria-label=\"score by unit\">"
    );
    for (i, (name, score)) in rows.iter().enumerate() {
        let y = 10 + i * 24;
        let w = (score.clamp(0.0, 100.0) * 4.4).round();
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"170\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"#4a90d9\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{score:.2}</text>",
            y + 12,
            esc(name),
            175.0 + w,
            y + 12
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A line chart of each unit's score month by month.
fn trend(b: &Bulletin) -> String {
    let months: Vec<&str> = {
        let mut m: Vec<&str> = b.trend.iter().map(|p| p.month.as_str()).collect();
        m.sort_unstable();
        m.dedup();
        m
    };
    let units: Vec<&str> = {
        let mut u: Vec<&str> = b.trend.iter().map(|p| p.unit.as_str()).collect();
        u.sort_unstable();
        u.dedup();
        u
    };
    let (w, h) = (640.0, 240.0);
    let x = |i: usize| 40.0 + (w - 60.0) * i as f64 / (months.len().max(2) - 1) as f64;
    let y = |s: f64| h - 20.0 - (h - 40.0) * s.clamp(0.0, 100.0) / 100.0;
    let palette = [
        "#4a90d9", "#d94a4a", "#4ad97a", "#d9a74a", "#8e4ad9", "#4ad9d0", "#777777",
    ];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"trend\">\
         <line x1=\"40\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>",
        h - 20.0,
        w - 20.0,
        h - 20.0
    );
    for (i, m) in months.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"10\">{m}</text>",
            x(i) - 18.0,
            h - 5.0
        ));
    }
    for (k, u) in units.iter().enumerate() {
        let pts: Vec<String> = months
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                b.trend
                    .iter()
                    .find(|p| p.unit == *u && p.month == *m)
                    .map(|p| format!("{:.1},{:.1}", x(i), y(p.score)))
            })
            .collect();
        let color = palette[k % palette.len()];
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            pts.join(" "),
            w - 15.0,
            14.0 + 12.0 * k as f64,
            esc(u)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A printable HTML page.
pub fn to_html(b: &Bulletin) -> String {
    let mut html = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>考评通报 {m}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:1.5em}}\
         th,td{{border:1px solid #999;padding:4px 8px;text-align:right}}th{{background:#ddebf7}}td.t{{text-align:left}}\
         @media print{{.pb{{page-break-before:always}}}}</style></head><body>\
         <h1>{c} 考评通报 {m}</h1><p>revision {r} · 审计链头 audit chain head <code>{a}</code></p>",
        m = esc(&b.month),
        c = esc(&b.campaign),
        r = b.revision,
        a = esc(&b.audit_head)
    );
    for g in &b.groups {
        html.push_str(&format!("<h2>{}</h2><table><tr>", esc(&g.group)));
        for h in &HEADERS[1..] {
            html.push_str(&format!("<th>{}</th>", esc(h)));
        }
        html.push_str("</tr>");
        for r in &g.rows {
            html.push_str(&format!(
                "<tr><td>{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{:.2}</td><td>{}</td>",
                r.rank.map(|x| x.to_string()).unwrap_or_default(),
                esc(&r.unit),
                esc(&r.name),
                r.score,
                r.change.map(|c| format!("{c:+.2}")).unwrap_or_default()
            ));
            for v in [
                r.compliance,
                r.coverage,
                r.closed,
                r.on_time,
                r.rework,
                r.extension,
                r.evidence_quality,
            ] {
                html.push_str(&format!("<td>{:.2}%</td>", v * 100.0));
            }
            html.push_str(&format!("<td>{}</td></tr>", r.inspections));
        }
        html.push_str("</table>");
        let rows: Vec<(String, f64)> = g.rows.iter().map(|r| (r.name.clone(), r.score)).collect();
        html.push_str(&bars(&rows));
    }
    if !b.alerts.is_empty() {
        html.push_str("<h2>污染预警 alerts</h2><table><tr><th>level</th><th>units</th><th>from</th><th>to</th><th>days</th></tr>");
        for a in &b.alerts {
            html.push_str(&format!(
                "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
                esc(&a.level),
                esc(&a.units.join(", ")),
                esc(&a.starts_at),
                esc(&a.ends_at),
                a.days
            ));
        }
        html.push_str("</table>");
    }
    if !b.alerts.is_empty() {
        html.push_str(
            "<h2>污染预警 alerts</h2><table><tr><th>level</th><th>units</th><th>from</th><th>to</th><th>days</th></tr>",
        );
        for a in &b.alerts {
            html.push_str(&format!(
                "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
                esc(&a.level),
                esc(&a.units.join(", ")),
                esc(&a.starts_at),
                esc(&a.ends_at),
                a.days
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("<h2 class=\"pb\">趋势 trend</h2>");
    html.push_str(&trend(b));
    html.push_str("<h2>超期整改 overdue</h2><table><tr><th>order</th><th>unit</th><th>item</th><th>deadline</th></tr>");
    for o in &b.overdue {
        html.push_str(&format!(
            "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td></tr>",
            esc(&o.id),
            esc(&o.unit),
            esc(&o.item),
            esc(&o.deadline)
        ));
    }
    html.push_str("</table><h2>返工 reworks</h2><table><tr><th>unit</th><th>name</th><th>reworks</th><th>due</th></tr>");
    for w in &b.reworks {
        html.push_str(&format!(
            "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&w.unit),
            esc(&w.name),
            w.reworks,
            w.orders_due
        ));
    }
    html.push_str("</table></body></html>\n");
    html
}
