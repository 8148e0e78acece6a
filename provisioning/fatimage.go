package provisioning

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/edgegate/edgegate/images/fat"
)

// StickImageSize is the size of the image WriteStickImage makes (8 MiB): a
// FAT16 file system without a partition table, to write onto a USB stick
// with dd (the appliance reads whole-disk and partitioned sticks alike).
const StickImageSize = 8 << 20

// WriteStickImage writes a FAT16 image labelled StickLabel holding
// edgegate/cloud-token, edgegate/license.key and, when f.Config is not nil,
// edgegate/edgegate.json. The volume id derives from the contents and every
// timestamp is modTime, so the same files give the same image.
func WriteStickImage(w io.WriterAt, f *Files, modTime time.Time) error {
	sum := sha256.Sum256([]byte(f.Token + "\x00" + f.License + "\x00" + string(f.Config)))
	fw, err := fat.NewWriter(fat.Options{
		Size: StickImageSize, Label: StickLabel, VolumeID: binary.LittleEndian.Uint32(sum[:4]), ModTime: modTime,
	})
	if err != nil {
		return err
	}
	files := map[string][]byte{TokenFile: []byte(f.Token + "\n"), LicenseFile: []byte(f.License + "\n")}
	if f.Config != nil {
		files[ConfigFile] = f.Config
	}
	for name, b := range files {
		if err := fw.AddFile(StickDir+"/"+name, b); err != nil {
			return err
		}
	}
	if _, err := fw.WriteTo(w); err != nil {
		return fmt.Errorf("write provisioning image: %w", err)
	}
	return nil
}
