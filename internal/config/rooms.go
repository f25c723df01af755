package config

// RoomsConfig is the operator's policy for rooms.
type RoomsConfig struct {
	// EncryptPrivate adds m.room.encryption (Megolm) to private rooms and
	// direct chats when they are created: encryption by default.
	EncryptPrivate bool `yaml:"encrypt_private"`
}

func defaultRooms() RoomsConfig { return RoomsConfig{EncryptPrivate: true} }
