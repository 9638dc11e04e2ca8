//! The EXIF fields lantian keeps. Parsing is kamadak-exif's, leniently: evidence is never refused
//! over its metadata (issue 15). What can be read is kept; what cannot (a block cut short, as some
//! writers leave it, IFD loops, lengths past the end, GPS rationals with a zero denominator or out
//! of range, an orientation outside 1-8) is left out rather than misread, and said:
//! [`ExifRead::unreadable`], which the photo carries as the flag `exif_unreadable`.

use std::io::{BufRead, Seek};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use exif::{Field, In, Tag, Value};
use lantian_domain::geo::Datum;
use lantian_domain::media::{ExifGps, ExifInfo};

use crate::MediaError;

/// What a photo's EXIF gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExifRead {
    /// The fields that could be read; `None` when the file has no EXIF or none of it is readable.
    pub info: Option<ExifInfo>,
    /// What could not be read, when something could not.
    pub unreadable: Option<String>,
}

/// Reads EXIF from a JPEG, PNG or WebP container, leniently. Only an I/O error fails.
pub fn read<R: BufRead + Seek>(r: &mut R) -> Result<ExifRead, MediaError> {
    let mut problems: Vec<String> = Vec::new();
    let exif = match exif::Reader::new()
        .continue_on_error(true)
        .read_from_container(r)
    {
        Ok(e) => e,
        Err(exif::Error::NotFound(_) | exif::Error::BlankValue(_)) => {
            return Ok(ExifRead::default());
        }
        Err(exif::Error::Io(e)) => return Err(MediaError::Io(e)),
        Err(e) => match e.distill_partial_result(|errors| {
            problems.extend(errors.iter().map(ToString::to_string));
        }) {
            Ok(partial) => partial,
            Err(e) => {
                return Ok(ExifRead {
                    info: None,
                    unreadable: Some(e.to_string()),
                });
            }
        },
    };
    let field = |tag| exif.get_field(tag, In::PRIMARY);
    let orientation = match field(Tag::Orientation).map(|f| f.value.get_uint(0)) {
        None => 1,
        Some(Some(o @ 1..=8)) => o as u16,
        Some(o) => {
            problems.push(format!("orientation {o:?} is not 1 to 8"));
            1
        }
    };
    let (taken_at, taken_at_offset_assumed) = match taken_at(
        field(Tag::DateTimeOriginal).or_else(|| field(Tag::DateTime)),
        field(Tag::OffsetTimeOriginal).or_else(|| field(Tag::OffsetTime)),
    ) {
        Some((t, assumed)) => (Some(t), assumed),
        None => (None, false),
    };
    let gps = gps(&exif).unwrap_or_else(|e| {
        problems.push(e.to_string());
        None
    });
    Ok(ExifRead {
        info: Some(ExifInfo {
            taken_at,
            taken_at_offset_assumed,
            gps,
            make: field(Tag::Make).and_then(ascii),
            model: field(Tag::Model).and_then(ascii),
            orientation,
        }),
        unreadable: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}

/// The first ASCII value of a field, trimmed, control characters dropped, at most 64 characters.
fn ascii(f: &Field) -> Option<String> {
    match &f.value {
        Value::Ascii(v) => v.first().map(|b| {
            String::from_utf8_lossy(b)
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
                .trim()
                .to_owned()
        }),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// The time taken. An unset or impossible date (cameras write `0000:00:00 00:00:00`) counts as
/// absent, not malformed. Without an offset tag, China Standard Time is assumed and said so.
fn taken_at(dt: Option<&Field>, offset: Option<&Field>) -> Option<(DateTime<Utc>, bool)> {
    let Value::Ascii(v) = &dt?.value else {
        return None;
    };
    let mut d = exif::DateTime::from_ascii(v.first()?).ok()?;
    if let Some(Value::Ascii(o)) = offset.map(|f| &f.value)
        && let Some(o) = o.first()
    {
        let _ = d.parse_offset(o);
    }
    let naive = NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))?
        .and_hms_opt(u32::from(d.hour), u32::from(d.minute), u32::from(d.second))?;
    let (minutes, assumed) = match d.offset {
        Some(m) => (i32::from(m), false),
        None => (8 * 60, true),
    };
    let tz = FixedOffset::east_opt(minutes * 60)?;
    let local = tz.from_local_datetime(&naive).single()?;
    Some((local.with_timezone(&Utc), assumed))
}

fn gps(exif: &exif::Exif) -> Result<Option<ExifGps>, MediaError> {
    let field = |tag| exif.get_field(tag, In::PRIMARY);
    let (Some(lat), Some(lon)) = (field(Tag::GPSLatitude), field(Tag::GPSLongitude)) else {
        return Ok(None);
    };
    let mut lat = degrees(lat)?;
    let mut lon = degrees(lon)?;
    let reference = |tag| field(tag).and_then(ascii).unwrap_or_default();
    if reference(Tag::GPSLatitudeRef).eq_ignore_ascii_case("S") {
        lat = -lat;
    }
    if reference(Tag::GPSLongitudeRef).eq_ignore_ascii_case("W") {
        lon = -lon;
    }
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(MediaError::ExifMalformed(format!(
            "GPS position {lat},{lon} is out of range"
        )));
    }
    let datum_text = reference(Tag::GPSMapDatum).to_ascii_uppercase();
    let datum = if datum_text.contains("GCJ") {
        Datum::Gcj02
    } else if datum_text.contains("BD") {
        Datum::Bd09
    } else {
        Datum::Wgs84
    };
    Ok(Some(ExifGps { lat, lon, datum }))
}

/// Degrees from the three rationals (degrees, minutes, seconds) of a GPS coordinate.
fn degrees(f: &Field) -> Result<f64, MediaError> {
    let Value::Rational(v) = &f.value else {
        return Err(MediaError::ExifMalformed(format!(
            "{} is not rational",
            f.tag
        )));
    };
    if v.is_empty() || v.len() > 3 {
        return Err(MediaError::ExifMalformed(format!(
            "{} has {} components",
            f.tag,
            v.len()
        )));
    }
    let mut total = 0.0;
    for (r, scale) in v.iter().zip([1.0, 60.0, 3600.0]) {
        if r.denom == 0 {
            return Err(MediaError::ExifMalformed(format!(
                "{} has a zero denominator",
                f.tag
            )));
        }
        total += f64::from(r.num) / f64::from(r.denom) / scale;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::testing::{Breakage, ExifSpec, jpeg};

    fn spec() -> ExifSpec {
        ExifSpec {
            make: Some("Xiaomi".into()),
            model: Some("Redmi Note 12".into()),
            orientation: Some(6),
            taken: Some("2026:11:02 10:15:30".into()),
            offset: Some("+08:00".into()),
            gps: Some((36.4567, 115.9854)),
            map_datum: Some("WGS-84".into()),
            breakage: None,
        }
    }

    fn read_jpeg(bytes: &[u8]) -> Result<Option<ExifInfo>, MediaError> {
        read(&mut Cursor::new(bytes)).map(|r| r.info)
    }

    fn read_all(bytes: &[u8]) -> ExifRead {
        read(&mut Cursor::new(bytes)).expect("an EXIF problem is not an error")
    }

    #[test]
    fn reads_what_the_camera_wrote() {
        let e = read_jpeg(&jpeg(32, 32, Some(&spec())))
            .expect("read")
            .expect("exif");
        assert_eq!(e.make.as_deref(), Some("Xiaomi"));
        assert_eq!(e.model.as_deref(), Some("Redmi Note 12"));
        assert_eq!(e.orientation, 6);
        assert_eq!(
            e.taken_at.map(|t| t.to_rfc3339()),
            Some("2026-11-02T02:15:30+00:00".into())
        );
        assert!(!e.taken_at_offset_assumed);
        let g = e.gps.expect("gps");
        assert!((g.lat - 36.4567).abs() < 1e-6 && (g.lon - 115.9854).abs() < 1e-6);
        assert_eq!(g.datum, Datum::Wgs84);
    }

    #[test]
    fn no_offset_means_china_time_assumed_and_said() {
        let s = ExifSpec {
            offset: None,
            ..spec()
        };
        let e = read_jpeg(&jpeg(32, 32, Some(&s)))
            .expect("read")
            .expect("exif");
        assert!(e.taken_at_offset_assumed);
        assert_eq!(
            e.taken_at.map(|t| t.to_rfc3339()),
            Some("2026-11-02T02:15:30+00:00".into())
        );
    }

    #[test]
    fn a_photo_without_exif_has_none() {
        assert_eq!(read_jpeg(&jpeg(32, 32, None)).expect("read"), None);
    }

    #[test]
    fn loops_absurd_counts_and_zero_denominators_are_said_not_refused() {
        for b in [
            Breakage::LoopedIfd,
            Breakage::AbsurdCount,
            Breakage::ZeroDenominator,
        ] {
            let s = ExifSpec {
                breakage: Some(b),
                ..spec()
            };
            let r = read_all(&jpeg(32, 32, Some(&s)));
            assert!(r.unreadable.is_some(), "{b:?}: {r:?}");
        }
        // A zero denominator loses the position, not the rest.
        let s = ExifSpec {
            breakage: Some(Breakage::ZeroDenominator),
            ..spec()
        };
        let e = read_all(&jpeg(32, 32, Some(&s))).info.expect("exif");
        assert_eq!(e.gps, None);
        assert_eq!(e.make.as_deref(), Some("Xiaomi"));
        assert!(e.taken_at.is_some());
    }

    #[test]
    fn an_orientation_outside_one_to_eight_is_left_out_and_said() {
        let s = ExifSpec {
            orientation: Some(9),
            ..spec()
        };
        let r = read_all(&jpeg(32, 32, Some(&s)));
        assert_eq!(r.info.expect("exif").orientation, 1);
        assert!(r.unreadable.expect("said").contains("orientation"));
    }

    /// What piexif writes: IFD0 ends the block without its next-IFD pointer. The fields are read.
    #[test]
    fn a_block_without_the_next_ifd_pointer_is_read() {
        let s = ExifSpec {
            breakage: Some(Breakage::NoNextIfdPointer),
            ..spec()
        };
        let r = read_all(&jpeg(32, 32, Some(&s)));
        let e = r.info.expect("exif");
        assert_eq!(e.make.as_deref(), Some("Xiaomi"));
        assert_eq!(e.orientation, 6);
        assert_eq!(
            e.taken_at.map(|t| t.to_rfc3339()),
            Some("2026-11-02T02:15:30+00:00".into())
        );
    }
}
