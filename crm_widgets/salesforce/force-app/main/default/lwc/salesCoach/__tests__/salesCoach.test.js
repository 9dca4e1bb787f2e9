import { createElement } from 'lwc';
import SalesCoach from 'c/salesCoach';
import getContext from '@salesforce/apex/SalesCoachController.getContext';
import { getNavigateCalledWith, resetNavigation } from 'lightning/navigation';

const CONNECTED = require('./data/contextConnected.json');
const NO_CALLS = require('./data/contextNoCalls.json');
const NOT_CONNECTED = require('./data/contextNotConnected.json');
const APEX_ERROR = require('./data/apexError.json');

// Imperative Apex, mocked the standard way: a virtual module whose default export is a jest.fn.
jest.mock('@salesforce/apex/SalesCoachController.getContext', () => ({ default: jest.fn() }), { virtual: true });

const RECORD_ID = '0035g00000XyZAbAAN';

// Apex returns the backend's JSON body as a string.
const answer = (fixture) => JSON.stringify(fixture);

async function flushPromises() {
    for (let i = 0; i < 5; i += 1) {
        // eslint-disable-next-line no-await-in-loop
        await Promise.resolve();
    }
}

function mount(props = {}) {
    const element = createElement('c-sales-coach', { is: SalesCoach });
    Object.assign(element, { recordId: RECORD_ID, objectApiName: 'Contact', ...props });
    document.body.appendChild(element);
    return element;
}

const $ = (element, id) => element.shadowRoot.querySelector(`[data-id="${id}"]`);

describe('c-sales-coach', () => {
    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.clearAllMocks();
        resetNavigation();
    });

    it('shows a loading state while Apex is answering', async () => {
        getContext.mockReturnValue(new Promise(() => {}));
        const element = mount();
        await flushPromises();
        expect($(element, 'loading')).not.toBeNull();
        expect(element.shadowRoot.querySelector('lightning-spinner')).not.toBeNull();
        expect($(element, 'ready')).toBeNull();
    });

    it('asks Apex for the context of this record and object', async () => {
        getContext.mockResolvedValue(answer(CONNECTED));
        mount({ objectApiName: 'Opportunity' });
        await flushPromises();
        expect(getContext).toHaveBeenCalledTimes(1);
        expect(getContext).toHaveBeenCalledWith({ recordId: RECORD_ID, objectApiName: 'Opportunity' });
    });

    it('renders the last call score, tips, record and trend sparkline', async () => {
        getContext.mockResolvedValue(answer(CONNECTED));
        const element = mount();
        await flushPromises();

        expect($(element, 'score').textContent).toBe('72');
        expect($(element, 'score').className).toContain('score_fair');
        expect($(element, 'last-call-date').textContent).toBe('2026-11-03');
        expect($(element, 'record-name').textContent).toContain('Dana Whitfield');
        expect($(element, 'record-name').textContent).toContain('Northwind Traders');

        const tips = [...$(element, 'tips').querySelectorAll('li')].map((li) => li.textContent);
        expect(tips).toEqual(CONNECTED.last_call.tips);

        const polyline = element.shadowRoot.querySelector('svg.sparkline polyline');
        const points = polyline.getAttribute('points').split(' ');
        expect(points).toHaveLength(CONNECTED.trend.length);
        // Higher score is drawn higher (smaller y): 72 (last) above 58 (first).
        const ys = points.map((p) => Number(p.split(',')[1]));
        expect(ys[3]).toBeLessThan(ys[0]);
        expect(element.shadowRoot.querySelector('svg.sparkline').getAttribute('aria-label')).toBe(
            'Score trend: 58, 64, 61, 72'
        );
        expect($(element, 'trend-summary').textContent).toBe('58 → 72 (+14) over 4 calls');
    });

    it('says there are no coached calls yet when the record has none', async () => {
        getContext.mockResolvedValue(answer(NO_CALLS));
        const element = mount({ recordId: '00Q5g00000AbCdEEAZ', objectApiName: 'Lead' });
        await flushPromises();
        expect($(element, 'no-calls')).not.toBeNull();
        expect($(element, 'trend')).toBeNull();
        expect($(element, 'open-coach').disabled).toBe(false);
    });

    it('explains how to connect when the org is not connected', async () => {
        getContext.mockResolvedValue(answer(NOT_CONNECTED));
        const element = mount();
        await flushPromises();

        expect($(element, 'not-connected-message').textContent).toBe(NOT_CONNECTED.message);
        expect($(element, 'open-coach')).toBeNull();
        $(element, 'connect').click();
        expect(getNavigateCalledWith().pageReference).toEqual({
            type: 'standard__webPage',
            attributes: { url: NOT_CONNECTED.connect_url }
        });
    });

    it('shows the Apex error message and retries on request', async () => {
        getContext.mockRejectedValueOnce(APEX_ERROR);
        const element = mount();
        await flushPromises();

        expect($(element, 'error-message').textContent).toBe(APEX_ERROR.body.message);
        getContext.mockResolvedValueOnce(answer(CONNECTED));
        $(element, 'retry').click();
        await flushPromises();
        expect(getContext).toHaveBeenCalledTimes(2);
        expect($(element, 'error')).toBeNull();
        expect($(element, 'score').textContent).toBe('72');
    });

    it('treats an answer that is not a JSON object as an error', async () => {
        getContext.mockResolvedValue('<html>Bad gateway</html>');
        const element = mount();
        await flushPromises();
        expect($(element, 'error')).not.toBeNull();
        expect($(element, 'error-message').textContent).not.toBe('');
    });

    it('opens the coach panel in a modal iframe that may use the microphone', async () => {
        getContext.mockResolvedValue(answer(CONNECTED));
        const element = mount();
        await flushPromises();
        expect($(element, 'panel')).toBeNull();

        $(element, 'open-coach').click();
        await flushPromises();
        const frame = $(element, 'panel-frame');
        expect(frame.getAttribute('src')).toBe(CONNECTED.panel_url);
        expect(frame.getAttribute('allow')).toContain('microphone');

        $(element, 'close-panel').click();
        await flushPromises();
        expect($(element, 'panel')).toBeNull();
    });

    it('opens the coach panel in a new window', async () => {
        getContext.mockResolvedValue(answer(CONNECTED));
        const element = mount();
        await flushPromises();
        $(element, 'open-window').click();
        expect(getNavigateCalledWith().pageReference).toEqual({
            type: 'standard__webPage',
            attributes: { url: CONNECTED.panel_url }
        });
    });

    it('never frames a panel URL that is not http(s)', async () => {
        getContext.mockResolvedValue(answer({ ...CONNECTED, panel_url: 'javascript:alert(1)' }));
        const element = mount();
        await flushPromises();
        expect($(element, 'open-coach').disabled).toBe(true);
        $(element, 'open-coach').click();
        await flushPromises();
        expect($(element, 'panel')).toBeNull();
    });

    it('reloads when the page switches to another record', async () => {
        getContext.mockResolvedValue(answer(CONNECTED));
        const element = mount();
        await flushPromises();
        element.recordId = '0035g00000XyZAcAAN';
        await flushPromises();
        expect(getContext).toHaveBeenCalledTimes(2);
        expect(getContext).toHaveBeenLastCalledWith({ recordId: '0035g00000XyZAcAAN', objectApiName: 'Contact' });
    });
});
