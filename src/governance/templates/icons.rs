//! Template icons (the picture of every team made from the template): a
//! PNG or JPEG, checked before it is stored, whoever uploads it (the admin
//! tab, `handler template put --icon`).
//!
//! The bytes must be what they claim (their signature, not a declared
//! type), at most [`MAX_ICON_BYTES`], and must decode as an image within
//! bounded dimensions and memory (the `image` crate's limits), so a
//! decompression bomb or a truncated file is refused when it is uploaded,
//! not when Graph is asked to set it. Stored as
//! `<tenant>/<template>-<content hash>`: a later version's icon never
//! changes what an earlier version shows.

use sha2::Digest;

use super::ICON_CONTAINER;
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::blobs::Blobs;

/// Teams shows icons small; a few hundred KiB is plenty.
pub const MAX_ICON_BYTES: usize = 512 * 1024;
/// Largest width and height accepted.
pub const MAX_ICON_PIXELS: u32 = 2048;
/// Most memory one decode may take.
const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IconError {
    #[error("the icon must be a PNG or JPEG image")]
    NotAnImage,
    #[error("the icon is larger than {} KiB", MAX_ICON_BYTES / 1024)]
    TooLarge,
    #[error("the icon does not decode as an image: {0}")]
    Undecodable(String),
    #[error("the icon is over {MAX_ICON_PIXELS}x{MAX_ICON_PIXELS} pixels")]
    TooManyPixels,
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// The content type the bytes really are.
pub fn sniff(bytes: &[u8]) -> Result<&'static str, IconError> {
    match bytes.get(..8) {
        Some([0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) => Ok("image/png"),
        Some([0xff, 0xd8, 0xff, ..]) => Ok("image/jpeg"),
        _ => Err(IconError::NotAnImage),
    }
}

/// Checks `bytes` as an icon; its content type when it is one.
pub fn check(bytes: &[u8]) -> Result<&'static str, IconError> {
    if bytes.len() > MAX_ICON_BYTES {
        return Err(IconError::TooLarge);
    }
    let content_type = sniff(bytes)?;
    let format = if content_type == "image/png" {
        image::ImageFormat::Png
    } else {
        image::ImageFormat::Jpeg
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_ICON_PIXELS);
    limits.max_image_height = Some(MAX_ICON_PIXELS);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => IconError::TooManyPixels,
        e => IconError::Undecodable(e.to_string()),
    })?;
    Ok(content_type)
}

/// Checks and stores an icon for template `id`; its blob name.
pub async fn store(
    blobs: &dyn Blobs,
    tenant: &TenantId,
    id: &str,
    bytes: Vec<u8>,
) -> Result<String, IconError> {
    let content_type = check(&bytes)?;
    let hash = hex::encode(sha2::Sha256::digest(&bytes));
    let name = format!("{tenant}/{id}-{}", &hash[..16]);
    blobs
        .put(ICON_CONTAINER, &name, bytes.into(), content_type)
        .await?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::new(width, height)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_real_png_is_an_icon_and_a_fake_one_is_not() {
        assert_eq!(check(&png(64, 64)).unwrap(), "image/png");
        assert!(matches!(
            check(b"\x89PNG\r\n\x1a\n0000"),
            Err(IconError::Undecodable(_))
        ));
        assert!(matches!(check(b"GIF89a....."), Err(IconError::NotAnImage)));
        assert!(matches!(check(b"<svg/>"), Err(IconError::NotAnImage)));
    }

    #[test]
    fn huge_dimensions_are_refused_before_they_are_allocated() {
        // A tiny file that claims 100,000 x 100,000 pixels.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(matches!(
            check(&bomb),
            Err(IconError::TooManyPixels | IconError::Undecodable(_))
        ));
        assert!(matches!(
            check(&png(MAX_ICON_PIXELS + 1, 1)),
            Err(IconError::TooManyPixels)
        ));
        assert!(matches!(
            check(&vec![0u8; MAX_ICON_BYTES + 1]),
            Err(IconError::TooLarge)
        ));
    }
}
