package checkout

// Catalogue holds every word the checkout page shows a payer, so that a
// translation is one more value of this type (one file per language:
// strings_xx.go) and a test checks that each has every key with the same
// arguments. Strings with verbs are fmt formats; their arguments are
// named beside them and may be reordered with explicit indexes (%[2]s).
type Catalogue struct {
	Lang string // the BCP 47 tag of the <html lang> attribute
	Name string // the language's own name, for the language links

	// Numbers and dates, formatted from plain tables rather than a locale
	// library: the page only needs decimals, a day and a clock time.
	DecimalSep string
	GroupSep   string
	Months     [12]string
	DateFormat string // %[1]d day, %[2]s month name, %[3]d year, %[4]s "15:04"

	// Durations for the confirmation estimate.
	Minutes      string // %d minutes
	Hours        string // %d hours
	HoursMinutes string // %[1]d hours, %[2]d minutes

	PageTitle     string // %s: store name
	NotFoundTitle string
	NotFoundText  string
	OrderLabel    string
	TestMode      string // %s: network name
	TestModeEVM   string // %[1]s: network name, %[2]s: asset (an EVM test network has no bitcoin)
	Unavailable   string // shown while an incident freeze is in force
	WrongChain    string // %s: asset, network, asset
	TotalLabel    string
	PriceLabel    string
	PaidLabel     string
	SendLabel     string
	AddressLabel  string
	QRCaption     string
	QRAlt         string // %s: the payment URI
	PayRegion     string // accessible name of the payment details
	QRTitle       string // %s: the payment URI
	Copy          string
	Copied        string
	CopyFailed    string
	CopyAddress   string // accessible name of the address copy button
	// The same three for an EVM deposit address (%s: the network), which
	// is no bitcoin address and must be paid on that network only.
	AddressLabelEVM string
	QRCaptionEVM    string
	CopyAddressEVM  string
	CopyAmount      string // accessible name of the amount copy button
	OpenWallet      string
	ExpiresIn       string
	NoScript        string
	ReturnToShop    string
	PoweredBy       string
	LanguageLabel   string // accessible name of the language links
	LogoAlt         string // %s: store name

	// ExchangeWarning is shown when the store accepts no shortfall.
	// %s: the exact amount with its unit.
	ExchangeWarning string
	// Estimate: %[1]d confirmations to go, %[2]s the estimated time,
	// %[3]s the chain's block interval.
	Estimate string

	// Help: where a payer with a problem turns.
	HelpTitle     string
	HelpText      string // %s: the order id
	SupportLink   string // the link to the shop's support page
	SupportEmail  string // the link text before the shop's address
	HelpNoContact string // when the store gave no contact

	// The receipt and the payments list.
	ReceiptTitle   string
	PaymentsTitle  string
	ReceivedLabel  string
	RateLabel      string
	RateValue      string // %[1]s asset, %[2]s price of one unit with currency
	PaidAtLabel    string
	TxLabel        string
	ViewTx         string // accessible name of a transaction link, %s: txid
	Print          string
	PaymentPending string // %d confirmations so far
	PaymentStatus  map[string]string

	// One title and one explanation per state the payer can see; the
	// explanations say what was received, what it means and what to do.
	Waiting, WaitingText               string
	Partial, PartialText               string // %[1]s received, %[2]s still due
	Mempool, MempoolText               string
	Confirming, ConfirmingText         string // %[1]d of %[2]d confirmations
	Reorged, ReorgedText               string // %[1]d of %[2]d confirmations
	Paid, PaidText                     string // %s received
	PaidMarkedText                     string // %s received
	PaidConfirmedLateText              string // %s received
	Overpaid, OverpaidText             string // %[1]s received, %[2]s due, %[3]s extra
	Expired, ExpiredText               string
	ExpiredPartial, ExpiredPartialText string // %[1]s received, %[2]s due
	PaidLate, PaidLateText             string // %s received
	DoubleSpent, DoubleSpentText       string // %[1]s not counted, %[2]s still due
	Conflicted, ConflictedText         string // %[1]s not counted, %[2]s still due
	Held, HeldText                     string // %s held
	OutsideWindow, OutsideWindowText   string // %s arrived too late
	Invalid, InvalidText               string // %s received
	Closed, ClosedText                 string
}

// English is the default catalogue.
var English = Catalogue{
	Lang:         "en",
	Name:         "English",
	DecimalSep:   ".",
	GroupSep:     ",",
	Months:       [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	DateFormat:   "%[1]d %[2]s %[3]d, %[4]s UTC",
	Minutes:      "%d min",
	Hours:        "%d h",
	HoursMinutes: "%d h %d min",

	PageTitle:       "Pay %s",
	NotFoundTitle:   "Payment not found",
	NotFoundText:    "This payment link is not valid. Please check the link or go back to the shop and start the payment again.",
	OrderLabel:      "Order",
	TestMode:        "Test payment on %s: do not send real bitcoin.",
	TestModeEVM:     "Test payment on the %[1]s test network: do not send real %[2]s.",
	Unavailable:     "Payments are temporarily unavailable. Please do not send a payment now; try again later or contact the shop.",
	WrongChain:      "Send %s on the %s network only. The same address exists on every EVM chain, but %s sent on another network does not pay this invoice.",
	TotalLabel:      "Total",
	PriceLabel:      "Price",
	PaidLabel:       "Received",
	SendLabel:       "Amount to send",
	AddressLabel:    "Bitcoin address",
	QRCaption:       "Scan with your bitcoin wallet",
	QRAlt:           "QR code for the payment request %s",
	PayRegion:       "Payment details",
	QRTitle:         "Payment request %s",
	Copy:            "Copy",
	Copied:          "Copied",
	CopyFailed:      "Select and copy by hand",
	CopyAddress:     "Copy the bitcoin address",
	AddressLabelEVM: "Deposit address (%s network)",
	QRCaptionEVM:    "Scan with a wallet on the %s network",
	CopyAddressEVM:  "Copy the deposit address",
	CopyAmount:      "Copy the amount",
	OpenWallet:      "Open in wallet",
	ExpiresIn:       "Time left to pay",
	NoScript:        "This page refreshes itself every 10 seconds.",
	ReturnToShop:    "Return to the shop",
	PoweredBy:       "Payment processed by CryptoPay",
	LanguageLabel:   "Language",
	LogoAlt:         "%s logo",

	ExchangeWarning: "Paying from an exchange? It may deduct a withdrawal fee. Make sure exactly %s arrives, or the payment stays incomplete.",
	Estimate:        "Confirmations to go: %[1]d, about %[2]s (one block every %[3]s on average).",

	HelpTitle:     "Need help?",
	HelpText:      "Contact the shop and give your order number %s.",
	SupportLink:   "Shop support page",
	SupportEmail:  "Email",
	HelpNoContact: "Use the contact details on the shop's website.",

	ReceiptTitle:   "Receipt",
	PaymentsTitle:  "Payments to this address",
	ReceivedLabel:  "Amount received",
	RateLabel:      "Exchange rate used",
	RateValue:      "1 %[1]s = %[2]s",
	PaidAtLabel:    "Paid on",
	TxLabel:        "Transaction",
	ViewTx:         "View transaction %s in a block explorer",
	Print:          "Print receipt",
	PaymentPending: "Confirmations so far: %d",
	PaymentStatus: map[string]string{
		"pending":           "Waiting for confirmations",
		"confirmed":         "Confirmed",
		"double_spent":      "Double spent: not counted",
		"conflicted":        "Replaced: not counted",
		"replaced":          "Replaced by a fee bump",
		"reorged":           "Waiting to be confirmed again",
		"held":              "Held for review by the shop",
		"outside_window":    "Arrived too late: not credited",
		"wrong_asset":       "Another asset: not credited",
		"internal_transfer": "Received through a contract: held for the shop",
	},

	Waiting:               "Waiting for your payment",
	WaitingText:           "Send the exact amount to the address below. This page updates by itself.",
	Partial:               "Partly paid",
	PartialText:           "We received %[1]s. Please send the remaining %[2]s to the same address before the time runs out.",
	Mempool:               "Payment seen",
	MempoolText:           "Your payment is on the network and waiting for its first confirmation. You can close this page.",
	Confirming:            "Confirming your payment",
	ConfirmingText:        "%[1]d of %[2]d confirmations. You can close this page.",
	Reorged:               "Confirming your payment again",
	ReorgedText:           "The block with your payment was replaced, as happens now and then; your payment is waiting to be confirmed again (%[1]d of %[2]d). You need to do nothing.",
	Paid:                  "Paid",
	PaidText:              "Thank you: we received %s and your payment is confirmed.",
	PaidMarkedText:        "The shop confirmed this payment as complete (%s received on the chain).",
	PaidConfirmedLateText: "Thank you: we received %s. It confirmed later than usual and has been accepted.",
	Overpaid:              "Paid, with more than the amount due",
	OverpaidText:          "We received %[1]s for %[2]s due: %[3]s more. Your order is paid; the shop has been told and decides about the difference, so contact them for a refund of it.",
	Expired:               "This payment request has expired",
	ExpiredText:           "Nothing was received. Do not send any money to this address; go back to the shop to start again.",
	ExpiredPartial:        "Expired before it was fully paid",
	ExpiredPartialText:    "We received %[1]s of the %[2]s due before this request expired. That money is recorded and the shop has been told. Do not send more to this address: contact the shop to complete your order or get a refund.",
	PaidLate:              "Payment received after expiry",
	PaidLateText:          "We received %s after this request expired. The money is recorded and the shop has been told: they decide whether to accept it or refund you. Contact them with your order number.",
	DoubleSpent:           "Your payment was reversed",
	DoubleSpentText:       "A payment of %[1]s to this address was double spent (a conflicting transaction was confirmed instead), so it does not count. The request is waiting for payment again: %[2]s is due. If you did not expect this, contact the shop before sending more.",
	Conflicted:            "Your payment was replaced",
	ConflictedText:        "A payment of %[1]s to this address was replaced by another transaction before it confirmed, so it does not count now (it will if it comes back). %[2]s is due; if you did not replace it yourself, contact the shop before sending more.",
	Held:                  "Payment held for review",
	HeldText:              "We received %s, but it is held for review by the shop and not counted yet. Do not send it again: contact the shop.",
	OutsideWindow:         "Payment arrived too late",
	OutsideWindowText:     "We received %s after this request was closed. It is recorded but not credited. Contact the shop to arrange a refund.",
	Invalid:               "Payment not confirmed in time",
	InvalidText:           "We received %s, but it was not confirmed within the time allowed. If it confirms later this page will show it as paid; otherwise contact the shop with your order number.",
	Closed:                "Closed by the shop",
	ClosedText:            "The shop closed this payment request. Do not send money to this address; contact the shop if you already paid.",
}
