import { LightningElement, api } from 'lwc';
import { NavigationMixin } from 'lightning/navigation';
import getContext from '@salesforce/apex/SalesCoachController.getContext';
import { reduceErrors } from 'c/ldsUtils';

// Sparkline drawing box (SVG user units); the CSS scales it to the card width.
const SPARK_WIDTH = 120;
const SPARK_HEIGHT = 32;
const SPARK_PAD = 3;

const STATE = {
    LOADING: 'loading',
    READY: 'ready',
    NOT_CONNECTED: 'notConnected',
    ERROR: 'error'
};

/** Only http(s) URLs may be framed or opened: never javascript: or data: URLs from a response. */
function safeUrl(value) {
    return typeof value === 'string' && /^https?:\/\//i.test(value) ? value : null;
}

function clampScore(value) {
    const n = Number(value);
    return Number.isFinite(n) ? Math.max(0, Math.min(100, Math.round(n))) : null;
}

/**
 * Sales Coach on a Contact, Lead, Account or Opportunity page: the last call's score and tips,
 * the score trend, and a button that opens the live coach panel for this record.
 * Data comes from Apex SalesCoachController.getContext, which calls the Sales Coach backend
 * through the SalesCoach named credential.
 */
export default class SalesCoach extends NavigationMixin(LightningElement) {
    @api objectApiName;

    state = STATE.LOADING;
    context = null;
    errorMessages = [];
    showPanel = false;

    _recordId;
    _connected = false;
    _requestSeq = 0;

    /** The record's 18-character id, filled by the record page. */
    @api
    get recordId() {
        return this._recordId;
    }
    set recordId(value) {
        const changed = value !== this._recordId;
        this._recordId = value;
        if (changed && this._connected) {
            this.load();
        }
    }

    connectedCallback() {
        this._connected = true;
        this.load();
    }

    disconnectedCallback() {
        this._connected = false;
    }

    /** Asks Apex for the widget context; the latest request wins if the record changes. */
    async load() {
        const requestId = ++this._requestSeq;
        this.showPanel = false;
        if (!this._recordId) {
            this.setError(['Sales Coach works on a record page: add it to a Contact, Lead, Account or Opportunity page.']);
            return;
        }
        this.state = STATE.LOADING;
        try {
            const raw = await getContext({ recordId: this._recordId, objectApiName: this.objectApiName });
            if (requestId !== this._requestSeq) {
                return;
            }
            const data = typeof raw === 'string' ? JSON.parse(raw) : raw;
            if (!data || typeof data !== 'object' || Array.isArray(data)) {
                throw new Error('Sales Coach sent an answer this component does not understand.');
            }
            this.context = data;
            this.state = data.connected === false ? STATE.NOT_CONNECTED : STATE.READY;
        } catch (error) {
            if (requestId === this._requestSeq) {
                this.setError(reduceErrors(error));
            }
        }
    }

    setError(messages) {
        this.context = null;
        this.errorMessages = messages.length ? messages : ['Sales Coach could not load the coaching context.'];
        this.state = STATE.ERROR;
    }

    // ----- state flags ---------------------------------------------------------------------
    get isLoading() {
        return this.state === STATE.LOADING;
    }
    get isReady() {
        return this.state === STATE.READY;
    }
    get isNotConnected() {
        return this.state === STATE.NOT_CONNECTED;
    }
    get isError() {
        return this.state === STATE.ERROR;
    }

    get errorText() {
        return this.errorMessages.join(' ');
    }

    // ----- not connected -------------------------------------------------------------------
    get notConnectedMessage() {
        return (
            this.context?.message ||
            'This Salesforce org is not connected to Sales Coach yet. An administrator connects it once; then every rep sees coaching here.'
        );
    }
    get connectUrl() {
        return safeUrl(this.context?.connect_url);
    }

    // ----- record and last call ------------------------------------------------------------
    get recordName() {
        return this.context?.record?.name || '';
    }
    get recordCompany() {
        return this.context?.record?.company || '';
    }
    get lastCall() {
        const call = this.context?.last_call;
        return call && typeof call === 'object' ? call : null;
    }
    get hasLastCall() {
        return this.lastCall !== null;
    }
    get lastCallDate() {
        return this.lastCall?.date || '';
    }
    get score() {
        return clampScore(this.lastCall?.score);
    }
    get hasScore() {
        return this.score !== null;
    }
    get scoreClass() {
        const score = this.score;
        const band = score >= 75 ? 'good' : score >= 50 ? 'fair' : 'low';
        return `score score_${band}`;
    }
    get tips() {
        const tips = Array.isArray(this.lastCall?.tips) ? this.lastCall.tips : [];
        return tips
            .filter((tip) => typeof tip === 'string' && tip.trim() !== '')
            .map((text, index) => ({ key: `tip-${index}`, text }));
    }
    get hasTips() {
        return this.tips.length > 0;
    }
    get reportUrl() {
        return safeUrl(this.lastCall?.report_url);
    }

    // ----- trend sparkline -----------------------------------------------------------------
    get trend() {
        const points = Array.isArray(this.context?.trend) ? this.context.trend : [];
        return points
            .map((point) => ({ date: point?.date || '', score: clampScore(point?.score) }))
            .filter((point) => point.score !== null);
    }
    get hasTrend() {
        return this.trend.length >= 2;
    }
    get sparkCoordinates() {
        const trend = this.trend;
        const step = (SPARK_WIDTH - 2 * SPARK_PAD) / Math.max(1, trend.length - 1);
        const innerHeight = SPARK_HEIGHT - 2 * SPARK_PAD;
        return trend.map((point, index) => ({
            x: +(SPARK_PAD + index * step).toFixed(1),
            y: +(SPARK_PAD + innerHeight * (1 - point.score / 100)).toFixed(1)
        }));
    }
    get sparklinePoints() {
        return this.sparkCoordinates.map((c) => `${c.x},${c.y}`).join(' ');
    }
    get sparkViewBox() {
        return `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`;
    }
    get lastPointX() {
        const coords = this.sparkCoordinates;
        return coords.length ? coords[coords.length - 1].x : 0;
    }
    get lastPointY() {
        const coords = this.sparkCoordinates;
        return coords.length ? coords[coords.length - 1].y : 0;
    }
    get trendSummary() {
        const trend = this.trend;
        if (trend.length < 2) {
            return '';
        }
        const first = trend[0].score;
        const last = trend[trend.length - 1].score;
        const delta = last - first;
        const sign = delta > 0 ? '+' : '';
        return `${first} → ${last} (${sign}${delta}) over ${trend.length} calls`;
    }
    get trendLabel() {
        return `Score trend: ${this.trend.map((p) => p.score).join(', ')}`;
    }

    // ----- coach panel ---------------------------------------------------------------------
    get panelUrl() {
        return safeUrl(this.context?.panel_url);
    }
    get cannotOpenCoach() {
        return !this.panelUrl;
    }

    handleOpenCoach() {
        if (this.panelUrl) {
            this.showPanel = true;
        }
    }

    handleClosePanel() {
        this.showPanel = false;
    }

    handlePanelKeydown(event) {
        if (event.key === 'Escape') {
            this.showPanel = false;
        }
    }

    handleOpenInNewWindow() {
        this.navigateTo(this.panelUrl);
    }

    handleConnect() {
        this.navigateTo(this.connectUrl);
    }

    handleOpenReport() {
        this.navigateTo(this.reportUrl);
    }

    handleRetry() {
        this.load();
    }

    navigateTo(url) {
        if (!url) {
            return;
        }
        this[NavigationMixin.Navigate]({ type: 'standard__webPage', attributes: { url } });
    }
}
